# trackday: the commands a user runs. CMake does the building; these targets install what is
# missing (scripts/install-deps), configure, build and run.
#
#   make          build the release configuration (build/release)
#   make test     install, build with ASan+UBSan (build/asan), run every test
#   make demo     install, build, run the demo (see README.md)
#   make bench    install, build, run the benchmarks (bench/run)

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE := build/release
ASAN := build/asan

.PHONY: all build deps test demo bench clean format

all: build

deps:
	@scripts/install-deps

build:
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DTD_WERROR=ON >/dev/null
	@cmake --build $(RELEASE) -j $(JOBS)

test: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DTD_SANITIZE=ON -DTD_WERROR=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)
	@scripts/run-tests $(ASAN)

demo: deps build
	@scripts/demo $(RELEASE)/trackday

bench: deps build
	@bench/run $(RELEASE)/trackday

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
