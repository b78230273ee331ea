// Package hostile is the catalogue of hostile and broken requests (issue 6): its test
// sends each one to the local server (webhook and query API in one process) and the
// webhook ones also through the API Gateway shim to the Lambda ingest handler, and checks
// the expected status and code and that nothing changed.
package hostile
