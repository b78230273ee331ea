// Package testenv is test-support code for integration tests that talk to
// DynamoDB and SQS. Import it only from _test.go files.
//
// # Shared emulators
//
// [DynamoDB] and [SQS] return clients for the emulators named by
// AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS, which `make emu-up` /
// `scripts/emu.sh up` start (DynamoDB Local 3.3.1 and moto_server, on
// 127.0.0.1) and `scripts/emu.sh env` prints:
//
//	scripts/emu.sh up && eval "$(scripts/emu.sh env)" && go test ./...; scripts/emu.sh down
//
// Give every test its own table and queue names ([Name]) so packages can run in
// parallel against the one shared pair.
//
// # Private fallback
//
// When a variable is unset, the first call in the test binary starts a private
// server on a free 127.0.0.1 port (once per process): DynamoDB Local from the
// jar under $CALLKIT_EMU_DIR/ddb or <repo>/.emu/ddb (`scripts/emu.sh install`),
// or `moto_server` from PATH. If that is impossible the test fails with the
// reason — it never skips.
//
// Cleanup of private servers: call [Main] from TestMain so they are stopped
// gracefully after m.Run():
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// Without Main they are still never leaked: every server this package starts is
// spawned from an OS thread that lives exactly as long as the server, with
// PR_SET_PDEATHSIG=SIGKILL (Linux), so the kernel kills it when the test binary
// exits for any reason (normal exit, panic, -timeout, os.Exit, SIGKILL).
//
// # Controllable servers for fault tests
//
// [StartDynamoDBLocal] and [StartMoto] start a server owned by one test, with
// Stop/Start on the same port; it is stopped in t.Cleanup.
//
// # Infrastructure from template.yaml
//
// [CreateTableFromTemplate] and [CreateQueuesFromTemplate] build tables and
// queues from the SAM/CloudFormation template so tests cannot drift from what
// is deployed. [LoadTemplate] and [Resolver] are the exported template reader.
package testenv
