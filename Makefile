# qemu-memx top-level Makefile. The two commands users need:
#   make demo    build everything and show the fork at work
#   make check   build everything and run every test (the CI command)
# Everything else is for developers; see README.rst.

BUILD := $(CURDIR)/build
QB := $(BUILD)/qemu-build
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
QEMU_BIN := $(BUILD)/qemu-system-x86_64

# ccache: hits across clones in different directories (paths under the
# clone are hashed relative to it, and the working directory is not).
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

# Built in the QEMU tree besides the emulator.
QEMU_TEST_TARGETS := tests/qtest/migration-test tests/qtest/qos-test \
                     tests/qtest/memx-migration-test

.PHONY: all build configure cores qemu firmware-links check check-unit \
        check-peer check-upstream check-upstream-diff check-e2e check-tmem fuzz guest demo demo-tmem bench soak soak-stress export-patches install clean distclean help

all: build

help:
	@sed -n '2,5p' Makefile | sed 's/^# //'
	@echo "Developer targets: build cores guest check-unit check-peer check-upstream"
	@echo "                   check-upstream-diff check-e2e check-tmem"
	@echo "                   fuzz bench soak soak-stress"
	@echo "                   export-patches install clean distclean"

# ./configure is idempotent and quick when nothing changed.
configure:
	@./configure --prefix=$(PREFIX) --builddir=$(BUILD)

cores: configure
	@ninja -C $(BUILD)/cores

qemu: configure
	@echo "qemu-memx: building QEMU (log: $(BUILD)/qemu-build.log)"
	@$(MAKE) -C $(QB) -j$(JOBS) > $(BUILD)/qemu-build.log 2>&1 && \
	 ninja -C $(QB) -j$(JOBS) $(QEMU_TEST_TARGETS) >> $(BUILD)/qemu-build.log 2>&1 || \
	 { tail -n 40 $(BUILD)/qemu-build.log; \
	   echo "qemu-memx: error: the QEMU build failed (log: $(BUILD)/qemu-build.log)"; exit 1; }
	@ln -sfn qemu-build/qemu-system-x86_64 $(QEMU_BIN)
	@scripts/link-firmware.sh $(QB) $(PREFIX)

build: cores qemu
	@$(QEMU_BIN) --version | head -n1

check: build
	@tests/run-checks.sh all

check-unit: cores
	@tests/run-checks.sh unit

check-peer: build
	@tests/run-checks.sh peer

check-upstream: build
	@tests/run-checks.sh upstream

# Upstream's suites against pristine upstream 10.0.13 (same tarball, same
# configure arguments) and against the fork: which results differ.
check-upstream-diff: build
	@scripts/check-upstream-diff.sh $(BUILD)

check-e2e: build
	@tests/run-checks.sh e2e

check-tmem: build
	@tests/run-checks.sh tmem

# Longer fuzzing of the guest-data parsers (FUZZ_SECONDS each, default 600).
fuzz: cores
	@tests/run-checks.sh fuzz

guest:
	@tests/guest/build.sh $(BUILD)/guest

demo: build guest
	@tests/tcg-only.sh /usr/bin/python3 tests/e2e/demo.py

# virtio-tmem at work in a real Linux guest (guest-driver/linux): swap
# through /dev/tmemswap0, the store's statistics as they move.
demo-tmem: build guest
	@tests/tcg-only.sh /usr/bin/python3 tests/e2e/demo_tmem.py

bench: build guest
	@tests/bench/run.sh

# Migrations over and over (every feature combination x scenario x
# kernel, random seeds and start delays), each verified, for
# SOAK_MINUTES (default 30); the table lands in $(BUILD)/soak/.
SOAK_MINUTES ?= 30
soak: build guest
	@mkdir -p $(BUILD)/soak
	@tests/tcg-only.sh /usr/bin/python3 tests/e2e/soak.py --minutes $(SOAK_MINUTES) \
	    --json $(BUILD)/soak/soak.json | tee $(BUILD)/soak/soak.txt

# The skip-free stress across the guest kernels of tests/guest/KERNELS:
# SOAK_STRESS_RUNS (default 200) migrations under alloc-churn, throttled,
# 2 vCPUs, memory compared on the host; every differing page explained.
SOAK_STRESS_RUNS ?= 200
soak-stress: build guest
	@mkdir -p $(BUILD)/soak
	@tests/tcg-only.sh /usr/bin/python3 tests/e2e/soak.py --stress \
	    --runs $(SOAK_STRESS_RUNS) --json $(BUILD)/soak/stress.json | \
	    tee $(BUILD)/soak/stress.txt

# Export the prepared tree's commits (upstream..HEAD) back into
# qemu/patches/, then mark the tree as matching them.
export-patches:
	@scripts/export-patches.sh $(BUILD)/qemu
	@scripts/prepare-tree.sh "$$(scripts/fetch-upstream.sh)" $(BUILD)/qemu --restamp

install: build
	@$(MAKE) -C $(QB) install DESTDIR=$(DESTDIR)
	@scripts/link-firmware.sh $(QB) $(PREFIX) --install $(DESTDIR)

clean:
	-@$(MAKE) -C $(QB) clean
	-@ninja -C $(BUILD)/cores -t clean

distclean:
	rm -rf $(BUILD)
