# SPDX-License-Identifier: MIT
# The developer commands. `make run` and `make test` are the README's two commands; both
# install missing Debian packages first (deploy/install-deps.sh) and then build with CMake.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
COV_BUILD  ?= build-cov
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 30
ARGS       ?=
IMAGE      ?= aiops-agent:latest
SOURCES    := $(shell git ls-files '*.c' '*.h' 2>/dev/null || find agent detectors transports storage config tests bench -name '*.[ch]')

.PHONY: all build build-tests run test unit asan fuzz format format-check lint coverage bench docker-build \
        docker-run deps-build deps-test deps-dev clean

all: build

deps-build:
	@deploy/install-deps.sh build
deps-test:
	@deploy/install-deps.sh test
deps-dev:
	@deploy/install-deps.sh dev

build: deps-build
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

# Runs the agent in the foreground on its embedded defaults (HTTP on 127.0.0.1:8000, SQLite in
# ./aiops.db). Extra flags: make run ARGS="--listen 0.0.0.0:8000".
run: build
	./$(BUILD)/aiops-agent run $(ARGS)

# The release build with its test suites: AIOPS_TESTS=ON makes a missing Criterion an error.
build-tests: deps-test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DAIOPS_TESTS=ON
	cmake --build $(BUILD) -j$(JOBS)

# The whole suite: unit and integration tests on the release build, the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer, then every fuzz target for a bounded time.
test: build-tests
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(MAKE) --no-print-directory asan fuzz

unit: build-tests
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -L unit

asan: deps-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAIOPS_SANITIZE=ON -DAIOPS_TESTS=ON
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

# Each libFuzzer target runs FUZZ_SECONDS over its corpus in tests/fuzz/corpus/<name>.
fuzz: deps-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAIOPS_FUZZ=ON -DAIOPS_TESTS=OFF
	cmake --build $(FUZZ_BUILD) -j$(JOBS)
	@set -e; for f in $(FUZZ_BUILD)/fuzz_*; do \
	  name=$$(basename $$f); case $$name in *.*) continue;; esac; \
	  corpus=tests/fuzz/corpus/$${name#fuzz_}; \
	  work=$$(mktemp -d); cp -r $$corpus/. $$work/ 2>/dev/null || true; \
	  echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
	      $$work 2>$(FUZZ_BUILD)/$$name.log || { tail -50 $(FUZZ_BUILD)/$$name.log; exit 1; }; \
	  rm -rf $$work; \
	done

format: deps-dev
	clang-format -i $(SOURCES)

format-check: deps-dev
	clang-format --dry-run --Werror $(SOURCES)

lint: deps-dev build
	clang-tidy -p $(BUILD) --quiet --warnings-as-errors='*' $(filter %.c,$(filter-out tests/%,$(SOURCES)))
	cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr --quiet \
	  --suppress=missingIncludeSystem -I . --std=c11 agent detectors transports storage config

coverage: deps-dev
	cmake -S . -B $(COV_BUILD) -DCMAKE_BUILD_TYPE=Debug -DAIOPS_COVERAGE=ON -DAIOPS_TESTS=ON
	cmake --build $(COV_BUILD) -j$(JOBS)
	cd $(COV_BUILD) && ctest -j$(JOBS) --output-on-failure
	mkdir -p $(COV_BUILD)/coverage
	gcovr -r . --object-directory $(COV_BUILD) --exclude 'tests/' --exclude 'bench/' \
	  --html-details $(COV_BUILD)/coverage/index.html --print-summary
	@echo "coverage report: $(COV_BUILD)/coverage/index.html"

bench: deps-dev build
	bench/run.sh $(BUILD)

docker-build:
	docker build -f deploy/Dockerfile -t $(IMAGE) .

docker-run:
	docker run --rm -p 8000:8000 -v aiops-data:/data $(IMAGE)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(COV_BUILD)
