package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/replay"
	"github.com/callkit-records/callkit-records/shared/localserver"
)

func replayCmd(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	defURL := "http://" + localserver.DefaultAddr + "/callback"
	if a := env.Getenv("CALLKIT_ADDR"); a != "" {
		defURL = "http://" + a + "/callback"
	}
	target := fs.String("url", defURL, "the webhook URL (with the path token, if one is configured)")
	perSec := fs.Float64("rate", 50, "requests per second (at most 10000)")
	app := fs.String("sdkappid", "", "send every callback as this SDKAppID")
	tokenEnv := fs.String("callback-token-env", "", "environment variable holding CALLKIT_CALLBACK_TOKEN: add Sign/RequestTime")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	max := fs.Int("max", 0, "send at most this many callbacks (0: all)")
	asJSON := fs.Bool("json", false, "one JSON object per callback")
	paths, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("replay needs at least one file or directory (e.g. events/)")
	}
	if u, err := url.Parse(*target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--url must be an http(s) URL, e.g. %s", defURL)
	}
	if *perSec <= 0 || *perSec > 10000 {
		return usagef("--rate must be in (0, 10000]")
	}
	if *timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if *max < 0 {
		return usagef("--max must not be negative")
	}
	opts := replay.Options{URL: *target, Rate: *perSec, Timeout: *timeout, Client: env.HTTP, Now: env.Now}
	if *app != "" {
		if opts.SDKAppID, err = strconv.ParseUint(*app, 10, 64); err != nil || opts.SDKAppID == 0 {
			return usagef("--sdkappid must be a positive integer")
		}
	}
	if *tokenEnv != "" {
		if opts.CallbackToken = env.Getenv(*tokenEnv); opts.CallbackToken == "" {
			return usagef("--callback-token-env: %s is not set", *tokenEnv)
		}
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}

	cbs, err := replay.Load(paths)
	if err != nil {
		return fmt.Errorf("nothing sent: %w", err)
	}
	if *max > 0 && len(cbs) > *max {
		cbs = cbs[:*max]
	}
	enc := json.NewEncoder(env.Stdout)
	sum, err := replay.Send(ctx, cbs, opts, func(r replay.Result) {
		if *asJSON {
			_ = enc.Encode(r)
			return
		}
		fmt.Fprintln(env.Stdout, resultLine(r))
	})
	line := fmt.Sprintf("%d sent to %s: %d acknowledged, %d failed", sum.Sent, *target, sum.Acknowledged, sum.Failed)
	if *asJSON {
		fmt.Fprintln(env.Stderr, line)
	} else {
		fmt.Fprintln(env.Stdout, line)
	}
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return errReported
	}
	return nil
}

func resultLine(r replay.Result) string {
	var b strings.Builder
	if r.OK {
		b.WriteString("ok    ")
	} else {
		b.WriteString("FAIL  ")
	}
	status := "---"
	if r.HTTPStatus != 0 {
		status = strconv.Itoa(r.HTTPStatus)
	}
	code := "-"
	if r.ErrorCode != nil {
		code = strconv.Itoa(*r.ErrorCode)
	}
	fmt.Fprintf(&b, "%s %-6s %s", status, code, r.Source)
	if r.Command != "" {
		b.WriteString(" " + r.Command)
	}
	if r.CallID != "" {
		b.WriteString(" " + r.CallID)
	}
	if !r.OK && r.Message != "" {
		b.WriteString(": " + truncate(r.Message, 200))
	}
	return b.String()
}
