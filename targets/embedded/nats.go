package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stampede-bench/stampede/targets"
)

// NATS is a running in-process nats-server, or a cluster of them, with
// JetStream on, listening on 127.0.0.1 only. Stop it when done.
type NATS struct {
	// URL lists the client URLs of every server, comma-separated.
	URL     string
	servers []*server.Server
	dir     string

	// Set by StartNATSChildren: the servers run as child processes, to
	// be paused and killed by faults. faultMu guards them, stopped (set by
	// Stop: nothing starts again) and lastFault (see LastFault).
	faultMu   sync.Mutex
	children  []*natsChild
	stopped   bool
	lastFault string
}

// StartNATS starts opt.Servers in-process servers (1, or 3 clustered over
// loopback routes), with their JetStream stores in a new temporary
// directory, and waits until JetStream answers. On error nothing is left
// running or on disk.
func StartNATS(ctx context.Context, opt targets.NATSOptions) (_ *NATS, err error) {
	n := max(opt.Servers, 1)
	dir, err := os.MkdirTemp("", "stampede-nats-*")
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	ns := &NATS{dir: dir}
	defer func() {
		if err != nil {
			ns.Stop()
		}
	}()
	routePorts := make([]int, n)
	if n > 1 {
		for i := range routePorts {
			if routePorts[i], err = freePort(); err != nil {
				return nil, fmt.Errorf("nats: free port: %w", err)
			}
		}
	}
	var urls []string
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("stampede-%d", i+1),
			Host:       "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("s%d", i+1)),
			NoLog: true, NoSigs: true, SyncAlways: opt.SyncAlways,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "stampede", Host: "127.0.0.1", Port: routePorts[i]}
			var routes []string
			for j, p := range routePorts {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
				}
			}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		s, err := server.NewServer(o)
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		ns.servers = append(ns.servers, s)
		go s.Start()
	}
	for _, s := range ns.servers {
		if !s.ReadyForConnections(20 * time.Second) {
			return nil, errors.New("nats: a server did not accept connections within 20s")
		}
		urls = append(urls, s.ClientURL())
	}
	ns.URL = strings.Join(urls, ",")
	if err := waitJetStream(ctx, ns.URL); err != nil {
		return nil, err
	}
	return ns, nil
}

// waitJetStream waits until JetStream answers (a cluster has elected its
// meta leader).
func waitJetStream(ctx context.Context, url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, time.Second)
		_, err := js.AccountInfo(actx)
		acancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats: JetStream not ready: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Dir returns the servers' temporary directory, removed by Stop.
func (ns *NATS) Dir() string { return ns.dir }

// Stop shuts every server down (child processes: resumed if paused, then
// SIGTERM, and SIGKILL after a few seconds) and removes their stores. It is
// safe to call more than once.
func (ns *NATS) Stop() error {
	childErr := ns.stopChildren() // a paused child is resumed first
	for _, s := range ns.servers {
		s.Shutdown()
	}
	for _, s := range ns.servers {
		s.WaitForShutdown()
	}
	ns.servers = nil
	if ns.dir == "" {
		return childErr
	}
	err := os.RemoveAll(ns.dir)
	liveChildren.addDir(ns.dir, false)
	ns.dir = ""
	return errors.Join(childErr, err)
}
