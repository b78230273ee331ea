package localserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/callkit-records/callkit-records/shared/dlq/boltdlq"
	"github.com/callkit-records/callkit-records/shared/dlq/dlqsock"
)

// Files of the data directory.
const (
	QueueFile       = "queue.db"
	RecordsFile     = "records.db"
	AdminSocketFile = "admin.sock" // dead-letter operations while the server runs (mode 0600)
)

// QueuePath is the embedded queue file under dataDir.
func QueuePath(dataDir string) string { return filepath.Join(dataDir, QueueFile) }

// AdminSocketPath is the admin socket under dataDir.
func AdminSocketPath(dataDir string) string { return filepath.Join(dataDir, AdminSocketFile) }

// startAdmin serves the dead-letter operations on the admin socket. The server holds
// queue.db's lock by now, so an admin.sock left in the directory is a dead server's.
// Without the socket the server still runs; the CLI then reports the queue as locked.
func (s *Server) startAdmin() {
	path := AdminSocketPath(s.opts.DataDir)
	ln, err := dlqsock.Listen(path)
	if err != nil {
		s.opts.Log.Warn("admin socket unavailable; dead-letter tooling needs the server stopped", slog.String("error", err.Error()))
		return
	}
	s.admin = dlqsock.NewServer(dlqsock.Handler(boltdlq.New(s.queue), s.opts.Log), s.opts.Log)
	go func() {
		if err := s.admin.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Log.Warn("admin socket stopped", slog.String("error", err.Error()))
		}
	}()
	s.opts.Log.Info("admin socket listening", slog.String("path", path))
}

// stopAdmin closes the socket (removing its file) and lets running operations finish.
func (s *Server) stopAdmin(ctx context.Context) error {
	if s.admin == nil {
		return nil
	}
	return s.admin.Shutdown(ctx)
}
