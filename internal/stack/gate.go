package stack

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Gate is a reverse proxy on 127.0.0.1 in front of an AWS endpoint that a test can
// close: while held, requests wait (and are announced on Arrived) until Release or
// until their client goes away. It lets a test catch a real function in the middle
// of an invocation, deterministically, to crash it there.
type Gate struct {
	URL     string        // the proxy's endpoint, given to the function instead of the real one
	Arrived chan struct{} // one value per request that found the gate held

	srv *http.Server

	mu   sync.Mutex
	held chan struct{} // non-nil while held; closed by Release
}

func startGate(target string) (*Gate, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &Gate{URL: "http://" + ln.Addr().String(), Arrived: make(chan struct{}, 64)}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // a crashed caller is the point, not news
	g.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		held := g.held
		g.mu.Unlock()
		if held != nil {
			select {
			case g.Arrived <- struct{}{}:
			default:
			}
			select {
			case <-held:
			case <-r.Context().Done():
				return // the caller died or gave up
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// Hold makes new requests wait.
func (g *Gate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
}

// Release lets waiting and new requests through.
func (g *Gate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

// WaitArrived waits for a request to reach the held gate.
func (g *Gate) WaitArrived(ctx context.Context) error {
	select {
	case <-g.Arrived:
		return nil
	case <-ctx.Done():
		return errors.New("stack: no request reached the gate: " + ctx.Err().Error())
	}
}

func (g *Gate) close() {
	g.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = g.srv.Shutdown(ctx)
}
