package localserver_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"

	"github.com/callkit-records/callkit-records/shared/config"
	"github.com/callkit-records/callkit-records/shared/dlq/dlqsock"
	"github.com/callkit-records/callkit-records/shared/localserver"
)

// The admin socket exists (owner-only) exactly while the server runs, replaces the
// socket a killed server left behind, and answers dead-letter listings.
func TestAdminSocketLifecycle(t *testing.T) {
	dir := t.TempDir()
	path := localserver.AdminSocketPath(dir)
	ln, err := net.Listen("unix", path) // left behind by a SIGKILLed server
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	_ = ln.Close()

	cfg := config.Config{SDKAppIDs: []uint64{1400000001}, MaxBodyBytes: config.DefaultMaxBodyBytes}
	s := start(t, localserver.Options{DataDir: dir, Config: cfg})
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket %v %v", fi, err)
	}
	c := dlqsock.Dial(path)
	defer c.Close()
	p, err := c.List(context.Background(), 10)
	if err != nil || len(p.Messages) != 0 || p.Total != 0 {
		t.Fatalf("empty dead letters: %+v %v", p, err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left after shutdown: %v", err)
	}
	if err := c.Ping(context.Background()); !errors.Is(err, dlqsock.ErrNoServer) {
		t.Fatalf("after shutdown: %v", err)
	}
}

// A file that is not a socket is never deleted; the server runs without the socket.
func TestAdminSocketNeverReplacesAFile(t *testing.T) {
	dir := t.TempDir()
	path := localserver.AdminSocketPath(dir)
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{SDKAppIDs: []uint64{1400000001}, MaxBodyBytes: config.DefaultMaxBodyBytes}
	start(t, localserver.Options{DataDir: dir, Config: cfg})
	if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
		t.Fatalf("file replaced: %q %v", b, err)
	}
}
