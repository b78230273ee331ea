package cli

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/callkit-records/callkit-records/cmd/callkit/internal/usersig"
	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/localserver"
	"github.com/callkit-records/callkit-records/shared/secret"
)

func usersigCmd(ctx context.Context, args []string, env Env) error {
	fs := flag.NewFlagSet("usersig", flag.ContinueOnError)
	appFlag := fs.String("sdkappid", "", "SDKAppID (default: the first of $CALLKIT_SDKAPPIDS, else the local demo app)")
	keyFlag := fs.String("key", "", "the app's secret key (visible in the process list: prefer --key-env)")
	keyEnv := fs.String("key-env", "", "environment variable holding the key, one key or \"appid:key,…\" (default CALLKIT_SECRET_KEY)")
	keySecret := fs.String("key-secret", "", "Secrets Manager secret holding the key (the deployment's SecretKeySecretName)")
	region := fs.String("region", "", "AWS region of --key-secret (default: the SDK's configuration)")
	identifier := fs.String("identifier", "", "the admin account to sign (default: the first of $CALLKIT_ADMINS, else administrator)")
	expireFlag := fs.String("expire", "24h", "lifetime: a duration (24h, 90m) or seconds")
	asJSON := fs.Bool("json", false, "print {usersig, query, sdkAppId, identifier, expiresAt}")
	print := fs.String("print", "all", "all, usersig (the signature only) or query (the query string only)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("usersig takes no arguments (got %q)", pos[0])
	}
	if *print != "all" && *print != "usersig" && *print != "query" {
		return usagef("--print must be all, usersig or query")
	}
	if n := btoi(*keyFlag != "") + btoi(*keyEnv != "") + btoi(*keySecret != ""); n > 1 {
		return usagef("give one of --key, --key-env and --key-secret")
	}
	if *region != "" && *keySecret == "" {
		return usagef("--region goes with --key-secret")
	}
	expire, err := parseExpire(*expireFlag)
	if err != nil {
		return usagef("--expire: %v", err)
	}

	app := uint64(localserver.DemoSDKAppID)
	switch {
	case *appFlag != "":
		if app, err = strconv.ParseUint(*appFlag, 10, 32); err != nil || app == 0 {
			return usagef("--sdkappid must be a positive 32-bit integer")
		}
	case env.Getenv("CALLKIT_SDKAPPIDS") != "":
		first, _, _ := strings.Cut(env.Getenv("CALLKIT_SDKAPPIDS"), ",")
		if app, err = strconv.ParseUint(strings.TrimSpace(first), 10, 32); err != nil || app == 0 {
			return usagef("CALLKIT_SDKAPPIDS does not start with an SDKAppID; give --sdkappid")
		}
	}

	key := *keyFlag
	if *keySecret != "" {
		if env.AWS == nil {
			return errors.New("AWS is not available in this build")
		}
		cfg, err := env.AWS(ctx, *region)
		if err != nil {
			return fmt.Errorf("AWS configuration: %w", err)
		}
		v, err := secret.Fetch(ctx, secretsmanager.NewFromConfig(cfg), *keySecret)
		if err != nil {
			return err
		}
		keys, err := config.ParseSecretKeys(v, []uint64{app})
		if err != nil {
			return fmt.Errorf("secret %s: %w", *keySecret, err)
		}
		if key = keys[app]; key == "" {
			return fmt.Errorf("secret %s has no key for sdkappid %d", *keySecret, app)
		}
	} else if key == "" {
		name := *keyEnv
		if name == "" {
			name = "CALLKIT_SECRET_KEY"
		}
		if v := env.Getenv(name); v != "" {
			keys, err := config.ParseSecretKeys(v, []uint64{app})
			if err != nil {
				return usagef("%s: %v", name, err)
			}
			if key = keys[app]; key == "" {
				return usagef("%s has no key for sdkappid %d", name, app)
			}
		} else if *keyEnv != "" {
			return usagef("--key-env: %s is not set", name)
		}
	}
	if key == "" {
		if app != localserver.DemoSDKAppID {
			return usagef("no secret key for sdkappid %d: set CALLKIT_SECRET_KEY or give --key-env VAR", app)
		}
		key = localserver.DemoKey
		fmt.Fprintf(env.Stderr, "callkit: using the local server's demo key for sdkappid %d\n", app)
	}

	id := *identifier
	if id == "" {
		id = config.DefaultAdmin
		if first, _, _ := strings.Cut(env.Getenv("CALLKIT_ADMINS"), ","); strings.TrimSpace(first) != "" {
			id = strings.TrimSpace(first)
		}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	m, err := usersig.Mint(usersig.Params{SDKAppID: app, Key: key, Identifier: id, Expire: expire, Random: binary.BigEndian.Uint32(rnd[:])}, env.Now())
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return json.NewEncoder(env.Stdout).Encode(m)
	case *print == "usersig":
		fmt.Fprintln(env.Stdout, m.UserSig)
	case *print == "query":
		fmt.Fprintln(env.Stdout, m.Query)
	default:
		fmt.Fprintf(env.Stdout, "usersig  %s\nquery    %s\nexpires  %s (sdkappid %d, identifier %s)\n",
			m.UserSig, m.Query, time.Unix(m.ExpiresAt, 0).UTC().Format(time.RFC3339), m.SDKAppID, m.Identifier)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseExpire accepts a Go duration or whole seconds.
func parseExpire(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 || n > int64(usersig.MaxExpire/time.Second) {
			return 0, fmt.Errorf("must be between 1 and %d seconds", int64(usersig.MaxExpire/time.Second))
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration (24h) nor seconds", s)
	}
	if d < time.Second || d > usersig.MaxExpire {
		return 0, fmt.Errorf("must be between 1s and %v", usersig.MaxExpire)
	}
	return d, nil
}
