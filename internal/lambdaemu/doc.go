// Package lambdaemu is a small, self-contained emulator of the AWS Lambda
// execution environment for provided.al2023 ("bootstrap") functions. It runs
// the real bootstrap binary as a child process, serves the Lambda Runtime API
// (version 2018-06-01) to it on an ephemeral 127.0.0.1 port, and lets tests
// and benchmarks invoke it in-process ([Function.Invoke]) or over HTTP through
// an RIE-compatible front ([Function.ServeInvokeAPI]).
//
// It exists because the official Runtime Interface Emulator cannot be
// installed in this project's environment (see shared/reference/local-aws.md
// §4). The behaviour follows the public Runtime API description:
//
//   - GET  /2018-06-01/runtime/invocation/next blocks until an invoke is
//     queued and answers 200 with the event and the Lambda-Runtime-Aws-Request-Id,
//     Lambda-Runtime-Deadline-Ms, Lambda-Runtime-Invoked-Function-Arn and
//     Lambda-Runtime-Trace-Id headers.
//   - POST /2018-06-01/runtime/invocation/{id}/response and .../{id}/error
//     answer 202; an id that is not the invocation in flight gets 400
//     (InvalidRequestID), a second answer for the same id 403
//     (InvalidStateTransition), and a response larger than 6 MB 413 (the
//     invoke then fails with Function.ResponseSizeTooLarge, as on AWS).
//   - POST /2018-06-01/runtime/init/error answers 202 during init and 403
//     afterwards; the pending invoke then fails with an init error.
//   - Anything else is 404 (405 for a wrong method).
//
// Execution model (mirrors one Lambda execution environment):
//
//   - Invocations are serialized, first come first served; concurrent callers
//     queue. There is never more than one bootstrap process per Function.
//   - The bootstrap is started by [Start]. After a timeout, a crash or an init
//     failure the process is killed and the NEXT invoke starts a fresh one
//     (a cold start, [Result.ColdStart]).
//   - A timeout (Config.Timeout, measured from the moment the runtime receives
//     the event) SIGKILLs the process and returns FunctionError "Unhandled"
//     with errorType "Runtime.Timeout".
//   - A process that exits while an invocation is in flight makes that invoke
//     return at once with errorType "Runtime.ExitError".
//   - A process that exits before its first /next, posts /runtime/init/error,
//     or does not reach /next within Config.InitTimeout fails the invoke with
//     [Result.InitError] set (errorType "Runtime.InitError" unless the runtime
//     posted its own error document).
//   - A warm process that died while idle (for example after a panic, where
//     aws-lambda-go posts the error and then exits) is replaced transparently:
//     the invoke that finds it dead is delivered to a fresh process.
//
// Environment: the child does NOT inherit the parent's environment. It gets
// PATH, HOME and TMPDIR from the parent (when set), the Lambda-defined
// variables (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME,
// AWS_LAMBDA_FUNCTION_VERSION=$LATEST, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
// AWS_LAMBDA_LOG_GROUP_NAME, AWS_LAMBDA_LOG_STREAM_NAME,
// AWS_LAMBDA_INITIALIZATION_TYPE=on-demand, _HANDLER=bootstrap,
// AWS_REGION, AWS_DEFAULT_REGION (us-east-1 unless Config.Env sets one),
// LAMBDA_TASK_ROOT = the binary's directory, which is also the working
// directory) and then Config.Env, which overrides everything except
// AWS_LAMBDA_RUNTIME_API. Anything else the function needs (credentials,
// AWS_ENDPOINT_URL_*, TABLE_NAME, QUEUE_URL, CALLKIT_* ...) must be listed in
// Config.Env explicitly; [EnvFromParent] copies selected variables.
//
// Everything binds 127.0.0.1 only.
//
// Typical use in a test:
//
//	bin, err := lambdaemu.BuildBootstrap(ctx, "./cmd/ingest", t.TempDir())
//	fn, err := lambdaemu.Start(lambdaemu.Config{
//		Binary: bin, FunctionName: "ingest", Timeout: 10 * time.Second,
//		Env: append([]string{"QUEUE_URL=" + q}, lambdaemu.EnvFromParent("AWS_*")...),
//	})
//	defer fn.Close()
//	res, err := fn.Invoke(ctx, payload)          // or:
//	http.Handler(apigw.NewServer(fn, apigw.WithRoutes("POST /callback")))
//
// Sibling packages: apigw (API Gateway HTTP API payload 2.0 front) and
// sqspoll (SQS event source mapping).
package lambdaemu
