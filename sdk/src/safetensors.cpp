#include "modelslim/safetensors.hpp"

#include <ATen/ATen.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "modelslim/error.hpp"
#include "modelslim/finite.hpp"
#include "modelslim/fp8.hpp"
#include "modelslim/json_file.hpp"
#include "modelslim/json_parse.hpp"
#include "safetensors_header.hpp"

namespace modelslim {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kLengthPrefixBytes = 8;
// The format's own readers refuse headers above 100 MB; so do we, before trusting the length prefix.
constexpr std::uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;
constexpr const char* kCorruptHint = "; the file is truncated or corrupt";

struct DtypeEntry {
  const char* name;
  at::ScalarType type;  // the type load() returns
  std::uint64_t bytes;  // stored bytes per element
  bool native = true;   // false: stored in a format LibTorch lacks, decoded to `type` on load
};
constexpr std::array<DtypeEntry, 11> kDtypes = {{{"F64", at::kDouble, 8},
                                                 {"F32", at::kFloat, 4},
                                                 {"F16", at::kHalf, 2},
                                                 {"BF16", at::kBFloat16, 2},
                                                 {"I64", at::kLong, 8},
                                                 {"I32", at::kInt, 4},
                                                 {"I16", at::kShort, 2},
                                                 {"I8", at::kChar, 1},
                                                 {"U8", at::kByte, 1},
                                                 {"BOOL", at::kBool, 1},
                                                 // float8_e4m3fn (FP8 checkpoints): decoded to float32
                                                 {"F8_E4M3", at::kFloat, 1, false}}};
constexpr const char* kDtypeList = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL or F8_E4M3";

const DtypeEntry* find_dtype(const std::string& name) {
  for (const auto& entry : kDtypes) {
    if (name == entry.name) return &entry;
  }
  return nullptr;
}

[[noreturn]] void invalid_file(const fs::path& file, const std::string& what) {
  throw Error(ErrorCode::kInvalidModel, file.string() + ": " + what,
              "re-download or regenerate the safetensors file");
}

[[noreturn]] void io_error(const fs::path& file, const std::string& what) {
  throw Error(ErrorCode::kIo, file.string() + ": " + what + ": " + std::strerror(errno));
}

std::string single_quoted(const std::string& name) {
  return "'" + name + "'";
}

// Owns a file descriptor; closes it when it goes out of scope (failure paths only, for written files).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // close(2) reports deferred write errors (NFS, some FUSE, ENOSPC at write-back): checked, and the
  // descriptor is released either way (retrying close after EINTR may close another thread's file).
  void close_checked(const fs::path& file) {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) io_error(file, "close failed");
  }

 private:
  int fd_;
};

// Writes all of `size` bytes or throws naming the file.
void write_all(int fd, const void* data, std::size_t size, const fs::path& file) {
  const char* cursor = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, cursor, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      io_error(file, "write failed");
    }
    cursor += written;
    size -= static_cast<std::size_t>(written);
  }
}

// Appends everything left in `in` to `out`: copy_file_range lets the kernel move the bytes (no user-space
// copy of multi-GB spill files); a buffered loop covers filesystems that do not support it.
void append_file(int in, const fs::path& in_path, int out, const fs::path& out_path) {
  constexpr std::size_t kChunk = 1u << 30;
  bool kernel_copy = true;
  while (kernel_copy) {
    const ssize_t moved = ::copy_file_range(in, nullptr, out, nullptr, kChunk, 0);
    if (moved == 0) return;
    if (moved > 0) continue;
    if (errno == EINTR) continue;
    if (errno != ENOSYS && errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP) {
      io_error(out_path, "copying " + in_path.string() + " failed");
    }
    kernel_copy = false;  // nothing was copied by the failed call, so the file offsets are still right
  }
  std::vector<char> buffer(1u << 20);
  while (true) {
    const ssize_t got = ::read(in, buffer.data(), buffer.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) io_error(in_path, "read failed");
    if (got == 0) return;
    write_all(out, buffer.data(), static_cast<std::size_t>(got), out_path);
  }
}

std::uint64_t read_little_endian_u64(const unsigned char* bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// Validates one header entry against the data section; every message names the file and the tensor.
TensorInfo parse_tensor_entry(const fs::path& file, const std::string& name, const nlohmann::json& entry,
                              std::uint64_t data_size) {
  const std::string tensor = "tensor " + single_quoted(name);
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets")) {
    invalid_file(file, tensor + " needs dtype, shape and data_offsets in the header" + kCorruptHint);
  }
  TensorInfo info;
  info.name = name;
  const auto& dtype = entry["dtype"];
  info.dtype = dtype.is_string() ? dtype.get<std::string>() : dtype.dump();
  const DtypeEntry* known = find_dtype(info.dtype);
  if (known == nullptr) {
    invalid_file(file, tensor + " has unsupported dtype " + single_quoted(info.dtype) + " (expected " +
                           kDtypeList + ")");
  }

  const auto& shape = entry["shape"];
  if (!shape.is_array())
    invalid_file(file, tensor + " shape must be a list of integers, got " + shape.dump());
  const std::uint64_t element_size = known->bytes;
  std::uint64_t expected_bytes = element_size;
  for (const auto& dim : shape) {
    if (!dim.is_number_integer() || dim.get<std::int64_t>() < 0) {
      invalid_file(file, tensor + " shape " + shape.dump() + " must hold non-negative integers");
    }
    const auto extent = dim.get<std::uint64_t>();
    if (extent != 0 && expected_bytes > std::numeric_limits<std::uint64_t>::max() / extent) {
      invalid_file(file, tensor + " shape " + shape.dump() + " is too large" + kCorruptHint);
    }
    expected_bytes *= extent;
    info.shape.push_back(static_cast<std::int64_t>(extent));
  }

  const auto& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    invalid_file(
        file, tensor + " data_offsets must be two non-negative integers [begin, end], got " + offsets.dump());
  }
  info.data_begin = offsets[0].get<std::uint64_t>();
  info.data_end = offsets[1].get<std::uint64_t>();
  const std::string range =
      "[" + std::to_string(info.data_begin) + ", " + std::to_string(info.data_end) + "]";
  if (info.data_begin > info.data_end) {
    invalid_file(file, tensor + " data_offsets " + range + " end before they begin" + kCorruptHint);
  }
  if (info.data_end > data_size) {
    invalid_file(file, tensor + " data_offsets " + range + " exceed the data section (" +
                           std::to_string(data_size) + " bytes)" + kCorruptHint);
  }
  const std::uint64_t stored_bytes = info.data_end - info.data_begin;
  if (stored_bytes != expected_bytes) {
    invalid_file(file, tensor + " data_offsets " + range + " hold " + std::to_string(stored_bytes) +
                           " bytes but dtype " + info.dtype + " and shape " + shape.dump() + " need " +
                           std::to_string(expected_bytes) + kCorruptHint);
  }
  return info;
}

void check_no_overlap(const fs::path& file, const std::vector<TensorInfo>& tensors) {
  std::vector<const TensorInfo*> stored;
  for (const auto& tensor : tensors) {
    if (tensor.data_end > tensor.data_begin) stored.push_back(&tensor);  // empty tensors occupy nothing
  }
  std::sort(stored.begin(), stored.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->data_begin < b->data_begin; });
  for (std::size_t i = 1; i < stored.size(); ++i) {
    if (stored[i]->data_begin < stored[i - 1]->data_end) {
      invalid_file(file, "tensors " + single_quoted(stored[i - 1]->name) + " and " +
                             single_quoted(stored[i]->name) + " overlap in the data section" + kCorruptHint);
    }
  }
}

// Tells the kernel what to do with the pages behind [begin, begin + size) of a mapping.
void advise_range(void* map, std::uint64_t begin, std::uint64_t size, int advice) {
  if (size == 0) return;
  static const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t first_page = begin / page * page;
  // Best effort: a refused hint changes only memory use or speed, never the data read.
  ::madvise(static_cast<char*>(map) + first_page, begin + size - first_page, advice);
}

// A shard name from an index must stay inside the checkpoint directory.
bool is_plain_relative(const fs::path& name) {
  if (name.empty() || name.is_absolute()) return false;
  for (const auto& part : name) {
    if (part == "..") return false;
  }
  return true;
}

}  // namespace

at::ScalarType scalar_type_from_safetensors(const std::string& dtype) {
  const DtypeEntry* entry = find_dtype(dtype);
  if (entry != nullptr && entry->native) return entry->type;
  if (entry != nullptr) {
    throw Error(ErrorCode::kUnsupported, "safetensors dtype " + single_quoted(dtype) +
                                             " has no LibTorch type; SafetensorsFile::load decodes it to " +
                                             c10::toString(entry->type));
  }
  throw Error(ErrorCode::kInvalidModel,
              "unsupported safetensors dtype " + single_quoted(dtype) + " (expected " + kDtypeList + ")");
}

std::string safetensors_dtype_name(at::ScalarType type) {
  for (const auto& entry : kDtypes) {
    if (entry.native && type == entry.type) return entry.name;
  }
  throw Error(ErrorCode::kUnsupported,
              std::string("cannot store dtype ") + c10::toString(type) + " in safetensors");
}

// ---------------------------------------------------------------------------------------------- reading

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const fs::path& file) {
  // Owned by the shared_ptr from here on, so every throw below unmaps through the destructor.
  std::shared_ptr<SafetensorsFile> result(new SafetensorsFile());
  result->path_ = file;
  {
    // The mapping outlives the descriptor; closing it keeps many-shard checkpoints off the fd limit.
    const FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      throw Error(ErrorCode::kInvalidModel, file.string() + ": cannot open: " + std::strerror(errno));
    }
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) io_error(file, "cannot stat");
    if (!S_ISREG(info.st_mode)) invalid_file(file, "not a regular file");
    result->file_size_ = static_cast<std::uint64_t>(info.st_size);
    if (result->file_size_ < kLengthPrefixBytes) {
      invalid_file(file, "file is " + std::to_string(result->file_size_) +
                             " bytes, shorter than the 8-byte header length" + kCorruptHint);
    }
    void* map = ::mmap(nullptr, result->file_size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (map == MAP_FAILED) io_error(file, "cannot be memory-mapped");
    result->map_ = map;
  }

  const auto* bytes = static_cast<const unsigned char*>(result->map_);
  const std::uint64_t header_size = read_little_endian_u64(bytes);
  if (header_size > result->file_size_ - kLengthPrefixBytes) {
    invalid_file(file, "header length " + std::to_string(header_size) + " exceeds the file size (" +
                           std::to_string(result->file_size_) + " bytes)" + kCorruptHint);
  }
  if (header_size > kMaxHeaderBytes) {
    invalid_file(file,
                 "header length " + std::to_string(header_size) + " exceeds the 100 MB limit" + kCorruptHint);
  }
  result->data_offset_ = kLengthPrefixBytes + header_size;
  const std::uint64_t data_size = result->file_size_ - result->data_offset_;

  nlohmann::json header;
  try {
    header =
        parse_json(std::string_view(reinterpret_cast<const char*>(bytes) + kLengthPrefixBytes, header_size));
  } catch (const nlohmann::json::parse_error& error) {
    invalid_file(file, std::string("header is not valid JSON (") + error.what() + ")" + kCorruptHint);
  }
  if (!header.is_object())
    invalid_file(file, std::string("header must be a JSON object, got a JSON ") + header.type_name());

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) invalid_file(file, "__metadata__ must be an object of strings");
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          invalid_file(file,
                       "__metadata__ value " + single_quoted(key) + " must be a string, got " + value.dump());
        }
        result->metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    result->tensors_.push_back(parse_tensor_entry(file, name, entry, data_size));
  }
  check_no_overlap(file, result->tensors_);
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
  if (info == nullptr) {
    throw Error(ErrorCode::kInvalidModel, path_.string() + ": no tensor named " + single_quoted(name));
  }
  const DtypeEntry* dtype = find_dtype(info->dtype);  // known: open() validated every entry
  at::Tensor tensor = at::empty(info->shape, at::TensorOptions().dtype(dtype->type));
  const std::uint64_t begin = data_offset_ + info->data_begin;
  const std::uint64_t size = info->data_end - info->data_begin;
  advise_range(map_, begin, size, MADV_WILLNEED);  // start read-ahead of the whole range at once
  // Copied (or decoded) a chunk at a time and checked for NaN/Inf while the chunk is in cache: a non-finite
  // weight would give NaN scales and undefined integer casts later.
  constexpr std::uint64_t kChunk = std::uint64_t{1} << 20;  // a multiple of every element size
  const auto* source = static_cast<const char*>(map_) + begin;
  auto* target = static_cast<char*>(tensor.data_ptr());
  const std::uint64_t element = tensor.element_size();
  for (std::uint64_t done = 0; done < size; done += kChunk) {
    const std::uint64_t bytes = std::min(kChunk, size - done);
    const std::uint64_t first = done / dtype->bytes;
    const std::uint64_t count = bytes / dtype->bytes;
    if (dtype->native) {
      std::memcpy(target + done, source + done, bytes);
    } else {
      decode_e4m3fn(reinterpret_cast<const std::uint8_t*>(source + done), count,
                    reinterpret_cast<float*>(target) + first);
    }
    const auto bad =
        find_non_finite(target + first * element, static_cast<std::int64_t>(count), tensor.scalar_type());
    if (bad) {
      advise_range(map_, begin, size, MADV_DONTNEED);
      throw Error(ErrorCode::kInvalidModel,
                  path_.string() + ": tensor " + single_quoted(name) + " holds " +
                      describe_non_finite(tensor, static_cast<std::int64_t>(first) + *bad),
                  "the checkpoint is damaged or was saved after a diverged training step; re-export it");
    }
    // Each chunk's mapped pages go once copied: a big tensor (a 0.6 GB lm_head) is not resident twice.
    advise_range(map_, begin + done, bytes, MADV_DONTNEED);
  }
  // Drop the mapped pages again: resident memory must follow the tensors in use, not what was read.
  advise_range(map_, begin, size, MADV_DONTNEED);
  return tensor;
}

SafetensorsCheckpoint SafetensorsCheckpoint::open_dir(const fs::path& dir) {
  SafetensorsCheckpoint checkpoint;
  checkpoint.dir_ = dir;
  if (!fs::is_directory(dir)) {
    throw Error(ErrorCode::kInvalidModel, dir.string() + ": model directory not found",
                "--model_path must name a directory holding config.json and *.safetensors");
  }

  const fs::path index_file = dir / "model.safetensors.index.json";
  if (fs::exists(index_file)) {
    const nlohmann::json index = read_json_file(index_file);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object() ||
        index["weight_map"].empty()) {
      throw Error(ErrorCode::kInvalidModel,
                  index_file.string() + ": expected a non-empty \"weight_map\" object {tensor: shard file}");
    }
    std::set<fs::path> present_shards;
    for (const auto& [name, shard] : index["weight_map"].items()) {
      if (!shard.is_string() || !is_plain_relative(shard.get<std::string>())) {
        throw Error(ErrorCode::kInvalidModel,
                    index_file.string() + ": weight_map entry " + single_quoted(name) +
                        " must name a shard file in the directory, got " + shard.dump());
      }
      const fs::path shard_file = dir / shard.get<std::string>();
      if (present_shards.count(shard_file) == 0) {
        if (!fs::is_regular_file(shard_file)) {
          throw Error(ErrorCode::kInvalidModel, index_file.string() + ": tensor " + single_quoted(name) +
                                                    " is in shard " + shard_file.string() +
                                                    ", which is missing");
        }
        present_shards.insert(shard_file);
      }
      checkpoint.tensor_file_[name] = shard_file;
    }
    return checkpoint;
  }

  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") files.push_back(entry.path());
  }
  if (files.empty()) {
    throw Error(
        ErrorCode::kInvalidModel, dir.string() + ": no *.safetensors weights found",
        "the model directory needs model.safetensors or model.safetensors.index.json with its shards");
  }
  std::sort(files.begin(), files.end());  // deterministic "appears in both" messages
  for (const auto& file : files) {
    const auto opened = checkpoint.file_for_path(file);
    for (const auto& tensor : opened->tensors()) {
      const auto [existing, inserted] = checkpoint.tensor_file_.emplace(tensor.name, file);
      if (!inserted) {
        throw Error(ErrorCode::kInvalidModel, dir.string() + ": tensor " + single_quoted(tensor.name) +
                                                  " appears in both " + existing->second.string() + " and " +
                                                  file.string());
      }
    }
  }
  return checkpoint;
}

std::shared_ptr<SafetensorsFile> SafetensorsCheckpoint::file_for_path(const fs::path& file) const {
  auto& slot = open_files_[file];
  if (!slot) slot = SafetensorsFile::open(file);
  return slot;
}

std::shared_ptr<SafetensorsFile> SafetensorsCheckpoint::file_for(const std::string& name) const {
  const auto found = tensor_file_.find(name);
  if (found == tensor_file_.end()) {
    throw Error(ErrorCode::kInvalidModel,
                dir_.string() + ": the checkpoint has no tensor " + single_quoted(name));
  }
  return file_for_path(found->second);
}

bool SafetensorsCheckpoint::contains(const std::string& name) const {
  return tensor_file_.count(name) > 0;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> result;
  result.reserve(tensor_file_.size());
  for (const auto& entry : tensor_file_) result.push_back(entry.first);
  return result;
}

const TensorInfo& SafetensorsCheckpoint::info(const std::string& name) const {
  const auto file = file_for(name);
  const TensorInfo* found = file->find(name);
  if (found == nullptr) {
    throw Error(ErrorCode::kInvalidModel, file->path().string() + ": the index lists tensor " +
                                              single_quoted(name) + " in this shard but the shard lacks it");
  }
  return *found;  // the file stays cached in open_files_, so the reference stays valid
}

at::Tensor SafetensorsCheckpoint::load(const std::string& name) const {
  info(name);  // same checks and messages as info()
  return file_for(name)->load(name);
}

// ---------------------------------------------------------------------------------------------- writing

SafetensorsWriter::SafetensorsWriter(fs::path path, std::map<std::string, std::string> metadata)
    : path_(std::move(path)), spill_path_(path_.string() + ".tmp.data"), metadata_(std::move(metadata)) {
  spill_fd_ = ::open(spill_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (spill_fd_ < 0) {
    throw Error(ErrorCode::kIo,
                path_.string() + ": cannot create the temporary data file " + spill_path_.string() + ": " +
                    std::strerror(errno),
                "check that the output directory exists and is writable");
  }
}

SafetensorsWriter::~SafetensorsWriter() {
  if (spill_fd_ >= 0) ::close(spill_fd_);
  if (!finished_) {
    std::error_code ignored;
    fs::remove(spill_path_, ignored);
    fs::remove(path_.string() + ".tmp", ignored);
  }
}

void SafetensorsWriter::add(const std::string& name, const at::Tensor& tensor) {
  const bool duplicate =
      std::any_of(entries_.begin(), entries_.end(), [&](const TensorInfo& e) { return e.name == name; });
  detail::PendingTensor pending =
      detail::pending_tensor(path_, name, tensor, finished_ || spill_fd_ < 0, duplicate, data_bytes_);
  if (pending.bytes > 0) write_all(spill_fd_, pending.data.data_ptr(), pending.bytes, spill_path_);
  data_bytes_ += pending.bytes;
  entries_.push_back(std::move(pending.info));
}

void SafetensorsWriter::finish() {
  if (finished_) return;
  if (spill_fd_ < 0)
    throw Error(ErrorCode::kUnexpected, path_.string() + ": finish() after a failed finish()");
  const std::string header = detail::safetensors_header_bytes(metadata_, entries_);
  FileDescriptor(std::exchange(spill_fd_, -1)).close_checked(spill_path_);  // the spill's last writes

  const fs::path temp = path_.string() + ".tmp";
  {
    FileDescriptor out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out.valid()) io_error(temp, "cannot create");
    write_all(out.get(), header.data(), header.size(), temp);
    const FileDescriptor spill(::open(spill_path_.c_str(), O_RDONLY | O_CLOEXEC));
    if (!spill.valid()) io_error(spill_path_, "cannot reopen");
    append_file(spill.get(), spill_path_, out.get(), temp);
    if (::fsync(out.get()) != 0) io_error(temp, "fsync failed");
    out.close_checked(temp);  // a failed close publishes nothing: the destructor removes the .tmp file
  }
  std::error_code error;
  fs::rename(temp, path_, error);
  if (error) {
    throw Error(ErrorCode::kIo,
                path_.string() + ": cannot rename " + temp.string() + " into place: " + error.message());
  }
  finished_ = true;
  fs::remove(spill_path_, error);  // the published file is complete; a stray spill file is only litter
}

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter writer(path, metadata);
  for (const auto& [name, tensor] : tensors) writer.add(name, tensor);
  writer.finish();
}

}  // namespace modelslim
