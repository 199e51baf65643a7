# trackday: the commands a user runs. CMake does the building; these targets install what is
# missing (scripts/install-deps), configure, build and run.
#
#   make          build the release configuration (build/release) and the browser UI
#                 (web/dist, from web/package-lock.json: scripts/build-web)
#   make test     install, build with ASan+UBSan (build/asan), run every test
#   make demo     install, build, run the demo (see README.md)
#   make demo-hub install, build, run a hub with a class, a worker and a training job
#   make demo-fleet install, build, run a hub and ten simulated cars: a rollout and a rollback
#   make bench    install, build, run the benchmarks (bench/run; the hub's: bench/hub)
#   make install  build, then install the library, headers, trackday.pc, the command and the
#                 tracks under PREFIX (default /usr/local; docs/c-api.md)
#   make fuzz     install, build the fuzz targets with clang (build/fuzz), run each for
#                 SECONDS (default 60) and print a table (docs/fuzzing.md)

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE := build/release
ASAN := build/asan
FUZZ := build/fuzz
SECONDS ?= 60
PREFIX ?= /usr/local

.PHONY: all build deps test demo demo-hub demo-fleet bench clean format fuzz install

all: build

deps:
	@scripts/install-deps

build:
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DTD_WERROR=ON >/dev/null
	@cmake --build $(RELEASE) -j $(JOBS)
	@scripts/build-web || echo "make: the browser UI (web/dist) was not built: scripts/build-web failed (the hub serves its API only; tests/test_web.sh fails)" >&2

test: deps
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DTD_SANITIZE=ON -DTD_WERROR=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)
	@scripts/run-tests $(ASAN)

install: build
	@cmake --install $(RELEASE) --prefix $(PREFIX)

demo: deps build
	@scripts/demo $(RELEASE)/trackday

demo-hub: deps build
	@scripts/demo-hub $(RELEASE)/trackday

demo-fleet: deps build
	@scripts/demo-fleet $(RELEASE)/trackday

bench: deps build
	@scripts/install-deps bench
	@bench/run $(RELEASE)/trackday

fuzz: deps
	@cmake -S . -B $(FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Release -DTD_FUZZ=ON \
		-DTD_WERROR=ON >/dev/null
	@cmake --build $(FUZZ) -j $(JOBS) --target fuzz_targets
	@scripts/fuzz -s $(SECONDS) -d $(FUZZ)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
