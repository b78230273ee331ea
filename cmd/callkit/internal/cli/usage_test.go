package cli_test

import (
	"strings"
	"testing"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/cli"
)

// Mistakes on the command line exit 2 with the reason and the usage, before anything is
// opened or sent.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"dlq"}, "dlq needs a subcommand"},
		{[]string{"dlq", "purge"}, `unknown dlq subcommand "purge"`},
		{[]string{"dlq", "list", "--max", "x"}, "invalid value"},
		{[]string{"dlq", "list", "--max", "0"}, "--max must be between 1 and 1000"},
		{[]string{"dlq", "list", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"dlq", "list", "0000000000000001"}, "takes no message ids"},
		{[]string{"dlq", "list", "--data", "d", "--dlq-url", "http://x/q"}, "give one"},
		{[]string{"dlq", "list", "--table", "t"}, "need --dlq-url"},
		{[]string{"dlq", "redrive"}, "give message ids, or all"},
		{[]string{"dlq", "redrive", "--all", "0000000000000001"}, "not both"},
		{[]string{"dlq", "redrive", "--all", "--max", "5000"}, "max must be between 1 and 1000"},
		{[]string{"replay"}, "at least one file or directory"},
		{[]string{"replay", "--url", "ftp://x", "events"}, "--url must be an http(s) URL"},
		{[]string{"replay", "--rate", "0", "events"}, "--rate must be in"},
		{[]string{"replay", "--sdkappid", "abc", "events"}, "--sdkappid must be a positive integer"},
		{[]string{"replay", "--callback-token-env", "NOPE", "events"}, "NOPE is not set"},
		{[]string{"usersig", "--expire", "-5"}, "--expire"},
		{[]string{"usersig", "--expire", "soon"}, "neither a duration"},
		{[]string{"usersig", "--key", "k", "--key-env", "K"}, "give one of --key, --key-env and --key-secret"},
		{[]string{"usersig", "--key-env", "K", "--key-secret", "s"}, "give one of"},
		{[]string{"usersig", "--region", "eu-west-1"}, "--region goes with --key-secret"},
		{[]string{"usersig", "--sdkappid", "1400000002"}, "no secret key for sdkappid 1400000002"},
		{[]string{"usersig", "--print", "everything"}, "--print must be"},
		{[]string{"usersig", "extra"}, "takes no arguments"},
	} {
		code, out, errOut := run(t, cli.Env{}, tc.args...)
		if code != cli.ExitUsage || out != "" || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "usage:") {
			t.Errorf("callkit %s: exit %d, stderr %q; want 2 and %q with the usage", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"help"}, {"--help"}, {"dlq", "list", "-h"}, {"replay", "--help"}} {
		code, out, errOut := run(t, cli.Env{}, args...)
		if code != cli.ExitOK || !strings.Contains(out, "callkit dlq redrive") || errOut != "" {
			t.Errorf("callkit %s: exit %d", strings.Join(args, " "), code)
		}
	}
}
