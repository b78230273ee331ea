// Package deploytest holds the checks on template.yaml that cfn-lint cannot make, and the
// end-to-end test of the real bootstraps under the Lambda emulator (tests only).
package deploytest
