// A libFuzzer-compatible driver for builds without libFuzzer (g++): feeds
// every file of the corpus folders given on the command line to
// LLVMFuzzerTestOneInput, then deterministic mutations of each (bit flips,
// truncations, byte insertions and deletions, splices), so the normal test
// run exercises the parsers' error paths under ASan/UBSan. Prints
// "N passed, 0 failed" when no input crashed (a crash aborts the run).

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::vector<uint8_t>> seeds;
  for (int i = 1; i < argc; ++i) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(argv[i])) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "no seed inputs found\n");
    return 1;
  }
  std::mt19937_64 rng(0x4845524C44);  // fixed: the run is reproducible
  size_t runs = 0;
  auto run = [&](const std::vector<uint8_t>& d) {
    LLVMFuzzerTestOneInput(d.data(), d.size());
    ++runs;
  };
  for (const auto& s : seeds) {
    run(s);
    for (size_t n = 0; n < s.size(); n += 1 + s.size() / 64)
      run(std::vector<uint8_t>(s.begin(), s.begin() + n));
    for (int i = 0; i < 2000; ++i) {
      std::vector<uint8_t> m = s;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !m.empty(); ++e) {
        size_t pos = rng() % m.size();
        switch (rng() % 5) {
          case 0:
            m[pos] ^= static_cast<uint8_t>(1u << (rng() % 8));
            break;
          case 1:
            m[pos] = static_cast<uint8_t>(rng());
            break;
          case 2:
            m.insert(m.begin() + static_cast<std::ptrdiff_t>(pos), static_cast<uint8_t>(rng()));
            break;
          case 3:
            m.erase(m.begin() + static_cast<std::ptrdiff_t>(pos));
            break;
          case 4: {
            const auto& other = seeds[rng() % seeds.size()];
            if (!other.empty()) {
              size_t from = rng() % other.size();
              m.insert(m.begin() + static_cast<std::ptrdiff_t>(pos),
                       other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
            }
            break;
          }
        }
      }
      run(m);
    }
  }
  std::printf("%zu passed, 0 failed\n", runs);
  return 0;
}
