# The two commands of the README. Both install what they need first.
#   make run    build (release) and run Herald's main job (herald serve) on ./herald-data
#   make test   build (dev: -Werror, ASan+UBSan) and run every test through CTest
.PHONY: run test deps build-release build-dev bench fuzz clean

JOBS ?= 2

deps:
	./scripts/install-deps.sh

build-release: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)

build-dev: deps
	cmake --preset dev >/dev/null
	cmake --build --preset dev -j $(JOBS)

run: build-release
	./scripts/run.sh build/release/src/cli/herald

# Every test fails on its first failure (no retries); a skipped test or a
# missing validator fails `make test` too: after CTest, coverage_summary.py prints
# which tests were skipped (none may be) and how many certificates each X.509
# validator checked per key type, from the files the tests wrote.
test: build-dev
	rm -rf build/dev/test-coverage build/dev/ctest-junit.xml
	ctest --preset dev --output-junit $(CURDIR)/build/dev/ctest-junit.xml
	python3 tests/integration/coverage_summary.py --check --junit build/dev/ctest-junit.xml build/dev/test-coverage

bench: build-release
	./bench/run.sh

fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)

clean:
	rm -rf build
