#include "modelslim/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"

namespace modelslim {
namespace {

struct DtypeEntry {
  const char* name;
  at::ScalarType type;
};
constexpr std::array<DtypeEntry, 10> kDtypes = {{{"F64", at::kDouble},
                                                 {"F32", at::kFloat},
                                                 {"F16", at::kHalf},
                                                 {"BF16", at::kBFloat16},
                                                 {"I64", at::kLong},
                                                 {"I32", at::kInt},
                                                 {"I16", at::kShort},
                                                 {"I8", at::kChar},
                                                 {"U8", at::kByte},
                                                 {"BOOL", at::kBool}}};

[[noreturn]] void model_error(const std::filesystem::path& file, const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, file.string() + ": " + what,
              "the safetensors file is truncated or corrupt; re-download or regenerate it");
}

std::string errno_text() {
  return std::strerror(errno);
}

// Writes all of `size` bytes or throws naming the file.
void write_all(int fd, const void* data, std::size_t size, const std::filesystem::path& file) {
  const char* cursor = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, cursor, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo, file.string() + ": write failed: " + errno_text());
    }
    cursor += written;
    size -= static_cast<std::size_t>(written);
  }
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

at::ScalarType scalar_type_from_safetensors(const std::string& dtype) {
  for (const auto& entry : kDtypes) {
    if (dtype == entry.name) return entry.type;
  }
  throw Error(ErrorCode::kInvalidModel, "unsupported safetensors dtype '" + dtype + "'");
}

std::string safetensors_dtype_name(at::ScalarType type) {
  for (const auto& entry : kDtypes) {
    if (type == entry.type) return entry.name;
  }
  throw Error(ErrorCode::kUnsupported,
              std::string("cannot store dtype ") + c10::toString(type) + " in safetensors");
}

// ---------------------------------------------------------------------------------------------- reading

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& file) {
  std::shared_ptr<SafetensorsFile> result(new SafetensorsFile());
  result->path_ = file;
  result->fd_ = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (result->fd_ < 0) {
    throw Error(ErrorCode::kInvalidModel, file.string() + ": cannot open: " + errno_text());
  }
  struct stat info {};
  if (::fstat(result->fd_, &info) != 0) model_error(file, "cannot stat: " + errno_text());
  result->file_size_ = static_cast<std::uint64_t>(info.st_size);
  if (result->file_size_ < 8)
    model_error(file, "file is " + std::to_string(result->file_size_) +
                          " bytes, shorter than the 8-byte header length");
  void* map = ::mmap(nullptr, result->file_size_, PROT_READ, MAP_PRIVATE, result->fd_, 0);
  if (map == MAP_FAILED) model_error(file, "cannot be memory-mapped: " + errno_text());
  result->map_ = map;

  const auto* bytes = static_cast<const unsigned char*>(map);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | bytes[i];  // little-endian
  if (header_size > result->file_size_ - 8) {
    model_error(file, "header length " + std::to_string(header_size) + " exceeds the file size " +
                          std::to_string(result->file_size_));
  }
  result->data_offset_ = 8 + header_size;
  const std::uint64_t data_size = result->file_size_ - result->data_offset_;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_size);
  } catch (const nlohmann::json::parse_error& error) {
    model_error(file, std::string("header is not valid JSON: ") + error.what());
  }
  if (!header.is_object()) model_error(file, "header is not a JSON object");

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) model_error(file, "__metadata__ is not an object");
      for (const auto& [key, value] : entry.items()) {
        if (value.is_string()) result->metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      model_error(file, "tensor '" + name + "' lacks dtype, shape or data_offsets");
    }
    TensorInfo info_entry;
    info_entry.name = name;
    info_entry.dtype = entry["dtype"].is_string() ? entry["dtype"].get<std::string>() : "";
    at::ScalarType type{};
    try {
      type = scalar_type_from_safetensors(info_entry.dtype);
    } catch (const Error&) {
      model_error(file, "tensor '" + name + "' has unsupported dtype '" + info_entry.dtype + "'");
    }
    std::uint64_t numel = 1;
    if (!entry["shape"].is_array()) model_error(file, "tensor '" + name + "' shape is not a list");
    for (const auto& dim : entry["shape"]) {
      if (!dim.is_number_integer() || dim.get<std::int64_t>() < 0) {
        model_error(file, "tensor '" + name + "' has a negative or non-integer dimension");
      }
      info_entry.shape.push_back(dim.get<std::int64_t>());
      numel *= dim.get<std::uint64_t>();
    }
    const auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      model_error(file, "tensor '" + name + "' data_offsets must be two non-negative integers");
    }
    info_entry.data_begin = offsets[0].get<std::uint64_t>();
    info_entry.data_end = offsets[1].get<std::uint64_t>();
    const std::string range =
        "[" + std::to_string(info_entry.data_begin) + ", " + std::to_string(info_entry.data_end) + "]";
    if (info_entry.data_begin > info_entry.data_end || info_entry.data_end > data_size) {
      model_error(file, "tensor '" + name + "' data_offsets " + range + " exceed the data section (" +
                            std::to_string(data_size) + " bytes)");
    }
    const std::uint64_t expected = numel * c10::elementSize(type);
    if (info_entry.data_end - info_entry.data_begin != expected) {
      model_error(file, "tensor '" + name + "' data_offsets " + range + " hold " +
                            std::to_string(info_entry.data_end - info_entry.data_begin) +
                            " bytes but its dtype and shape need " + std::to_string(expected));
    }
    result->tensors_.push_back(std::move(info_entry));
  }
  // Tensors must not overlap.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : result->tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->data_begin < b->data_begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->data_begin < by_offset[i - 1]->data_end) {
      model_error(file, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
    }
  }
  for (std::size_t i = 0; i < result->tensors_.size(); ++i) result->index_[result->tensors_[i].name] = i;
  return result;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, file_size_);
  if (fd_ >= 0) ::close(fd_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  const auto found = index_.find(name);
  return found == index_.end() ? nullptr : &tensors_[found->second];
}

at::Tensor SafetensorsFile::load(const std::string& name) const {
  const TensorInfo* info = find(name);
  if (info == nullptr)
    throw Error(ErrorCode::kInvalidModel, path_.string() + ": no tensor named '" + name + "'");
  at::Tensor tensor =
      at::empty(info->shape, at::TensorOptions().dtype(scalar_type_from_safetensors(info->dtype)));
  const std::uint64_t begin = data_offset_ + info->data_begin;
  const std::uint64_t size = info->data_end - info->data_begin;
  if (size > 0) std::memcpy(tensor.data_ptr(), static_cast<const char*>(map_) + begin, size);
  // Give the page cache back: resident memory must follow what is in use, not what was read.
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::uint64_t first_page =
      begin / static_cast<std::uint64_t>(page) * static_cast<std::uint64_t>(page);
  ::madvise(static_cast<char*>(map_) + first_page, begin + size - first_page, MADV_DONTNEED);
  return tensor;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_dir(const std::filesystem::path& dir) {
  SafetensorsCheckpoint checkpoint;
  checkpoint.dir_ = dir;
  const std::filesystem::path index_file = dir / "model.safetensors.index.json";
  if (std::filesystem::exists(index_file)) {
    std::ifstream in(index_file);
    nlohmann::json index;
    try {
      index = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& error) {
      throw Error(ErrorCode::kInvalidModel, index_file.string() + ": not valid JSON (" + error.what() + ")");
    }
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw Error(ErrorCode::kInvalidModel, index_file.string() + ": missing the weight_map object");
    }
    for (const auto& [name, shard] : index["weight_map"].items()) {
      const std::filesystem::path shard_file = dir / shard.get<std::string>();
      if (!std::filesystem::exists(shard_file)) {
        throw Error(ErrorCode::kInvalidModel, index_file.string() + ": tensor '" + name + "' is in " +
                                                  shard_file.string() + ", which is missing");
      }
      checkpoint.tensor_file_[name] = shard_file;
    }
    return checkpoint;
  }
  std::vector<std::filesystem::path> files;
  if (std::filesystem::is_directory(dir)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.is_regular_file() && entry.path().extension() == ".safetensors")
        files.push_back(entry.path());
    }
  }
  if (files.empty()) {
    throw Error(
        ErrorCode::kInvalidModel, dir.string() + ": no *.safetensors weights found",
        "the model directory needs model.safetensors or model.safetensors.index.json with its shards");
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    const auto opened = checkpoint.file_for_path(file);
    for (const auto& tensor : opened->tensors()) {
      const auto [it, inserted] = checkpoint.tensor_file_.emplace(tensor.name, file);
      if (!inserted) {
        throw Error(ErrorCode::kInvalidModel, "tensor '" + tensor.name + "' appears in both " +
                                                  it->second.string() + " and " + file.string());
      }
    }
  }
  return checkpoint;
}

std::shared_ptr<SafetensorsFile> SafetensorsCheckpoint::file_for_path(
    const std::filesystem::path& file) const {
  auto& slot = open_files_[file];
  if (!slot) slot = SafetensorsFile::open(file);
  return slot;
}

std::shared_ptr<SafetensorsFile> SafetensorsCheckpoint::file_for(const std::string& name) const {
  const auto found = tensor_file_.find(name);
  if (found == tensor_file_.end()) {
    throw Error(ErrorCode::kInvalidModel, dir_.string() + ": the checkpoint has no tensor '" + name + "'");
  }
  return file_for_path(found->second);
}

bool SafetensorsCheckpoint::contains(const std::string& name) const {
  return tensor_file_.count(name) > 0;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> result;
  for (const auto& entry : tensor_file_) result.push_back(entry.first);
  return result;
}

const TensorInfo& SafetensorsCheckpoint::info(const std::string& name) const {
  const auto file = file_for(name);
  const TensorInfo* found = file->find(name);
  if (found == nullptr) {
    throw Error(ErrorCode::kInvalidModel,
                file->path().string() + ": the index lists '" + name + "' but the file lacks it");
  }
  return *found;
}

at::Tensor SafetensorsCheckpoint::load(const std::string& name) const {
  const auto file = file_for(name);
  if (file->find(name) == nullptr) {
    throw Error(ErrorCode::kInvalidModel,
                file->path().string() + ": the index lists '" + name + "' but the file lacks it");
  }
  return file->load(name);
}

// ---------------------------------------------------------------------------------------------- writing

SafetensorsWriter::SafetensorsWriter(std::filesystem::path path, std::map<std::string, std::string> metadata)
    : path_(std::move(path)), spill_path_(path_.string() + ".tmp.data"), metadata_(std::move(metadata)) {
  spill_fd_ = ::open(spill_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (spill_fd_ < 0) throw Error(ErrorCode::kIo, spill_path_.string() + ": cannot create: " + errno_text());
}

SafetensorsWriter::~SafetensorsWriter() {
  if (spill_fd_ >= 0) ::close(spill_fd_);
  if (!finished_) {
    std::error_code ignored;
    std::filesystem::remove(spill_path_, ignored);
    std::filesystem::remove(path_.string() + ".tmp", ignored);
  }
}

void SafetensorsWriter::add(const std::string& name, const at::Tensor& tensor) {
  if (finished_) throw Error(ErrorCode::kUnexpected, path_.string() + ": add() after finish()");
  for (const auto& entry : entries_) {
    if (entry.name == name)
      throw Error(ErrorCode::kUnexpected, path_.string() + ": duplicate tensor '" + name + "'");
  }
  const at::Tensor data = tensor.detach().to(at::kCPU).contiguous();
  TensorInfo info;
  info.name = name;
  info.dtype = safetensors_dtype_name(data.scalar_type());
  info.shape = data.sizes().vec();
  info.data_begin = data_bytes_;
  const std::uint64_t size = static_cast<std::uint64_t>(data.numel()) * data.element_size();
  if (size > 0) write_all(spill_fd_, data.data_ptr(), size, spill_path_);
  data_bytes_ += size;
  info.data_end = data_bytes_;
  entries_.push_back(std::move(info));
}

void SafetensorsWriter::finish() {
  if (finished_) return;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  for (const auto& entry : entries_) {
    header[entry.name] = {
        {"dtype", entry.dtype}, {"shape", entry.shape}, {"data_offsets", {entry.data_begin, entry.data_end}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  ::close(spill_fd_);
  spill_fd_ = -1;

  const std::filesystem::path temp = path_.string() + ".tmp";
  {
    const FileDescriptor out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (out.get() < 0) throw Error(ErrorCode::kIo, temp.string() + ": cannot create: " + errno_text());
    std::array<unsigned char, 8> length{};
    std::uint64_t header_size = text.size();
    for (auto& byte : length) {
      byte = static_cast<unsigned char>(header_size & 0xff);
      header_size >>= 8;
    }
    write_all(out.get(), length.data(), length.size(), temp);
    write_all(out.get(), text.data(), text.size(), temp);
    const FileDescriptor in(::open(spill_path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) throw Error(ErrorCode::kIo, spill_path_.string() + ": cannot reopen: " + errno_text());
    std::vector<char> buffer(1 << 20);
    while (true) {
      const ssize_t got = ::read(in.get(), buffer.data(), buffer.size());
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw Error(ErrorCode::kIo, spill_path_.string() + ": read failed: " + errno_text());
      if (got == 0) break;
      write_all(out.get(), buffer.data(), static_cast<std::size_t>(got), temp);
    }
    if (::fsync(out.get()) != 0)
      throw Error(ErrorCode::kIo, temp.string() + ": fsync failed: " + errno_text());
  }
  std::filesystem::rename(temp, path_);
  std::filesystem::remove(spill_path_);
  finished_ = true;
}

void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter writer(path, metadata);
  for (const auto& [name, tensor] : tensors) writer.add(name, tensor);
  writer.finish();
}

}  // namespace modelslim
