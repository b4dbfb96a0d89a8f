// The user's files around --save_path (issue 11, §2.1-2.3, §3.8): modelslim never writes over or around
// the model, never replaces a directory it did not create, normalizes "out/", cleans up after dead runs
// and signals (and only after dead ones), refuses a second run on one output, and checks free space first.
#include "support/doctest.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/test_support.hpp"

namespace fs = std::filesystem;
using modelslim::test::CommandResult;
using modelslim::test::TempDir;
namespace test = modelslim::test;

namespace {

const char* const kSavePathConfig = modelslim::test::kW8A8Practice;

// Every regular file under `dir` with its bytes: "byte-identical" checks compare these maps.
std::map<std::string, std::string> save_path_snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file())
      files[fs::relative(entry.path(), dir).string()] = test::read_text(entry.path());
  }
  return files;
}

// Names in `dir` that look like a stage (".<x>.partial-<pid>").
std::vector<std::string> partials_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".partial-") != std::string::npos) names.push_back(name);
  }
  return names;
}

std::string host_name() {
  char buffer[256] = {};
  ::gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

fs::path lock_file(const fs::path& save) {
  return save.parent_path() / ("." + save.filename().string() + ".lock");
}

// A pid that provably belongs to no process: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

// The random checkpoint every case starts from, made once per process: each fixture gets its own copy.
const fs::path& save_path_pristine_model() {
  static const TempDir dir{"save-path-model"};
  static const fs::path model = [] {
    const fs::path fake = test::shared_dir() / "data" / "fake_llama";
    const fs::path made_model = dir / "model";
    const auto made = test::run_command((test::build_dir() / "bin" / "make_random_model").string() +
                                        " --config " + fake.string() + " --tokenizer-from " + fake.string() +
                                        " --output " + made_model.string() + " --seed 1");
    if (made.exit_code != 0) throw std::runtime_error("make_random_model failed:\n" + made.output);
    return made_model;
  }();
  return model;
}

struct SavePathFixture {
  TempDir dir{"save-path"};
  fs::path model = dir / "model";
  fs::path save = dir / "out";
  fs::path config = dir / "config.yaml";

  // Two short calibration samples: these cases are about the files around the output, not its numbers.
  SavePathFixture() {
    fs::copy(save_path_pristine_model(), model, fs::copy_options::recursive);
    test::write_text(dir / "calib.jsonl",
                     "{\"inputs_pretokenized\": \"In the beginning God created the heaven\"}\n"
                     "And the earth was without form, and void.\n");
    test::write_text(config, test::with_dataset(kSavePathConfig, dir / "calib.jsonl"));
  }
  std::vector<std::string> quant_args(const fs::path& save_path, const fs::path& model_path) const {
    return {test::modelslim_bin().string(),
            "quant",
            "--model_path",
            model_path.string(),
            "--save_path",
            save_path.string(),
            "--config_path",
            config.string()};
  }
  CommandResult quant(const std::string& save_path, const fs::path& model_path = {}) const {
    return test::run_command(test::modelslim_bin().string() + " quant --model_path " +
                             (model_path.empty() ? model : model_path).string() + " --save_path " +
                             save_path + " --config_path " + config.string());
  }
  CommandResult tune(const std::string& save_path) const {
    return test::run_command(test::modelslim_bin().string() + " tune --model_path " + model.string() +
                             " --save_path " + save_path + " --config " +
                             (test::source_dir() / "data" / "tune" / "demo-standing-high.yaml").string());
  }
};

void save_path_expect_refused(const CommandResult& result, const std::vector<std::string>& parts) {
  CAPTURE(result.output);
  CHECK(result.exit_code != 0);
  for (const auto& part : parts) CHECK_MESSAGE(result.output.find(part) != std::string::npos, part);
  // Refused before any work: no calibration, no block processed.
  CHECK(result.output.find("calibration:") == std::string::npos);
  CHECK(result.output.find("[quant] block") == std::string::npos);
}

// A run of the CLI we can signal: its output comes through a pipe, read line by line.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::dup2(fds[1], STDERR_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      for (const auto& [key, value] : env) ::setenv(key.c_str(), value.c_str(), 1);
      // A test run in the background inherits SIGINT ignored; the CLI keeps an ignored signal ignored.
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      std::vector<char*> argv;
      for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = ::fdopen(fds[0], "r");
  }
  ~Child() {
    if (out_ != nullptr) std::fclose(out_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads until a line contains `text` (true) or the child closes its output (false): no timing involved.
  bool wait_for(const std::string& text) {
    char line[8192];
    while (std::fgets(line, sizeof line, out_) != nullptr) {
      output_ += line;
      if (output_.find(text) != std::string::npos) return true;
    }
    return false;
  }
  // Reads the rest of the output, reaps the child; returns its wait status.
  int finish() {
    wait_for("\x01never\x01");
    int status = 0;
    ::waitpid(pid_, &status, 0);
    return status;
  }
  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  std::string output_;
};

// Runs quant paused before its commit, sends `signal`, and checks the run died of it leaving no stage.
void interrupt_before_commit(const SavePathFixture& f, int signal) {
  Child child(f.quant_args(f.save, f.model), {{"MODELSLIM_TEST_PAUSE_BEFORE_COMMIT", "1"}});
  const bool paused = child.wait_for("MODELSLIM_TEST_PAUSE_BEFORE_COMMIT");
  REQUIRE_MESSAGE(paused, child.output());
  REQUIRE(partials_in(f.dir.path()).size() == 1);  // the complete, unpublished output is there now
  ::kill(child.pid(), signal);
  const int status = child.finish();
  CAPTURE(child.output());
  CHECK(WIFSIGNALED(status));
  if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == signal);
  CHECK(partials_in(f.dir.path()).empty());
  CHECK_FALSE(fs::exists(lock_file(f.save)));
}

}  // namespace

TEST_CASE(
    "a save path equal to, containing or inside the model directory is refused; the model is untouched") {
  SavePathFixture f;
  const auto before = save_path_snapshot(f.model);
  const struct {
    fs::path save;
    const char* relation;
  } cases[] = {{f.model, " is --model_path "},
               {f.dir.path(), " contains --model_path "},
               {f.model / "out", " is inside --model_path "},
               {f.model / ".." / "model" / "", " is --model_path "}};
  for (const auto& c : cases) {
    CAPTURE(c.save);
    save_path_expect_refused(f.quant(c.save.string()),
                             {"--save_path", c.relation, f.model.filename().string()});
    save_path_expect_refused(f.tune(c.save.string()), {"--save_path", c.relation});
    CHECK(save_path_snapshot(f.model) == before);
    CHECK(partials_in(f.dir.path()).empty());
    CHECK(partials_in(f.model).empty());
  }
  CHECK_FALSE(fs::exists(f.model / "out"));
  // A symlink to the model is the model.
  fs::create_directory_symlink(f.model, f.dir / "link");
  save_path_expect_refused(f.quant((f.dir / "link").string()), {"--save_path", " is --model_path "});
  CHECK(save_path_snapshot(f.model) == before);
}

TEST_CASE("a non-empty directory modelslim did not create is refused and survives byte-identical") {
  SavePathFixture f;
  test::write_text(f.save / "notes.txt", "the user's notes\n");
  test::write_text(f.save / "sub" / "data.bin", std::string("\0\1\2binary", 9));
  const auto before = save_path_snapshot(f.save);
  save_path_expect_refused(f.quant(f.save.string()), {"--save_path " + f.save.string(), "did not create"});
  save_path_expect_refused(f.tune(f.save.string()), {"--save_path " + f.save.string(), "did not create"});
  CHECK(save_path_snapshot(f.save) == before);
  CHECK(partials_in(f.dir.path()).empty());
  // A file is not a directory either.
  test::write_text(f.dir / "a_file", "x");
  save_path_expect_refused(f.quant((f.dir / "a_file").string()), {"is not a directory"});
  CHECK(test::read_text(f.dir / "a_file") == "x");
}

TEST_CASE("--save_path out/ (trailing slash) writes out, with the output marker") {
  SavePathFixture f;
  const auto result = f.quant(f.save.string() + "/");
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK(fs::exists(f.save / "quant_model_description.json"));
  CHECK(fs::exists(f.save / ".modelslim-output"));
  CHECK(partials_in(f.dir.path()).empty());
  CHECK(partials_in(f.save).empty());
  CHECK_FALSE(fs::exists(lock_file(f.save)));
}

TEST_CASE("a previous output is replaced; a failed or interrupted run leaves it intact") {
  SavePathFixture f;
  REQUIRE(f.quant(f.save.string()).exit_code == 0);
  const std::string marker = test::read_text(f.save / ".modelslim-output");
  CHECK(marker.find("\"tool\": \"modelslim\"") != std::string::npos);
  CHECK(marker.find("quant") != std::string::npos);  // the command line
  test::write_text(f.save / "left_over.txt", "from the first run\n");

  // Replacing works: the second run's output only.
  auto result = f.quant(f.save.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK_FALSE(fs::exists(f.save / "left_over.txt"));
  CHECK(fs::exists(f.save / "quant_model_description.json"));
  const auto published = save_path_snapshot(f.save);

  // A run that fails after starting (a corrupt copy of the model) leaves it as it was.
  const fs::path broken = f.dir / "broken";
  fs::copy(f.model, broken);
  fs::resize_file(broken / "model.safetensors", fs::file_size(broken / "model.safetensors") / 2);
  result = f.quant(f.save.string(), broken);
  CHECK(result.exit_code != 0);
  CHECK(save_path_snapshot(f.save) == published);

  // So does one interrupted with everything written but not yet published.
  interrupt_before_commit(f, SIGINT);
  CHECK(save_path_snapshot(f.save) == published);
  CHECK(partials_in(f.dir.path()).empty());
}

TEST_CASE("SIGTERM mid-run removes the staging directory and exits non-zero") {
  SavePathFixture f;
  interrupt_before_commit(f, SIGTERM);
  CHECK_FALSE(fs::exists(f.save));
}

TEST_CASE("stale stages of dead processes are removed, those of live ones are not") {
  SavePathFixture f;
  const std::string marker = "{\"tool\": \"modelslim\", \"host\": \"" + host_name() + "\"}\n";
  const fs::path dead = f.dir / (".out.partial-" + std::to_string(dead_pid()));
  const fs::path live = f.dir / (".out.partial-" + std::to_string(::getpid()));
  const fs::path foreign = f.dir / (".out.partial-" + std::to_string(dead_pid()) + "0");  // no marker
  for (const auto& stage : {dead, live}) {
    test::write_text(stage / ".modelslim-output", marker);
    test::write_text(stage / "quant_model_weights.safetensors", std::string(4096, 'w'));
  }
  test::write_text(foreign / "user.txt", "not modelslim's\n");
  const auto result = f.quant(f.save.string());
  REQUIRE_MESSAGE(result.exit_code == 0, result.output);
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live / "quant_model_weights.safetensors"));
  CHECK(test::read_text(foreign / "user.txt") == "not modelslim's\n");
}

TEST_CASE("tune removes only dead runs' stages from its history") {
  SavePathFixture f;
  const std::string marker = "{\"tool\": \"modelslim\", \"host\": \"" + host_name() + "\"}\n";
  const fs::path history = f.save / "history";
  const fs::path dead = history / (".work.partial-" + std::to_string(dead_pid()));
  const fs::path live = history / (".work.partial-" + std::to_string(::getpid()));
  for (const auto& stage : {dead, live}) test::write_text(stage / ".modelslim-output", marker);
  test::write_text(f.save / ".modelslim-output", marker);
  // history.db a directory: tune stops right after its start-up clean-up, before any model work.
  fs::create_directories(history / "history.db");
  const auto result = f.tune(f.save.string());
  CAPTURE(result.output);
  CHECK(result.exit_code != 0);
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live / ".modelslim-output"));  // a live run's candidate is never pulled from under it
}

TEST_CASE("a second run on the same save path is refused, naming the holder's pid") {
  SavePathFixture f;
  // This test process is "the first run": it holds the lock the way modelslim does.
  const fs::path lock = lock_file(f.save);
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  const std::string pid = std::to_string(::getpid());
  REQUIRE(::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size()));
  save_path_expect_refused(f.quant(f.save.string()),
                           {"--save_path " + f.save.string(), "in use by process " + pid});
  save_path_expect_refused(f.tune(f.save.string()),
                           {"--save_path " + f.save.string(), "in use by process " + pid});
  CHECK_FALSE(fs::exists(f.save));
  CHECK(partials_in(f.dir.path()).empty());
  ::close(fd);
  // Released: the next run goes ahead (and removes the lock file when done).
  const auto result = f.quant(f.save.string());
  CHECK_MESSAGE(result.exit_code == 0, result.output);
  CHECK_FALSE(fs::exists(lock));
}

TEST_CASE("a disk too small for the output is refused up front, with the numbers") {
  SavePathFixture f;
  // A sparse shard makes the checkpoint look huge without using the disk.
  struct statvfs stats {};
  REQUIRE(::statvfs(f.dir.path().c_str(), &stats) == 0);
  const auto free_bytes = static_cast<std::uintmax_t>(stats.f_bavail) * stats.f_frsize;
  const fs::path shard = f.model / "zz-sparse.safetensors";
  test::write_text(shard, "");
  std::error_code error;
  fs::resize_file(shard, free_bytes * 8, error);  // float32 → int8: at least 2x the free space
  if (error) {
    MESSAGE("skipped: this file system cannot hold a sparse file of " << free_bytes * 8 << " bytes");
    return;
  }
  save_path_expect_refused(f.quant(f.save.string()), {"--save_path " + f.save.string(), "GiB", "free"});
  CHECK_FALSE(fs::exists(f.save));
  CHECK(partials_in(f.dir.path()).empty());
}
