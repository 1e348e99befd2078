# make test: every test, with what they need installed (scripts/test; CI runs the same).
# make quick: go test ./... (skips what is not installed).
.PHONY: test quick
test:
	bash scripts/test
quick:
	go test ./...
