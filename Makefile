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

test: build-dev
	ctest --preset dev

bench: build-release
	./bench/run.sh

fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)

clean:
	rm -rf build
