package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// Timings of the protocol.
const (
	beatEvery   = 500 * time.Millisecond
	lostAfter   = 3 * time.Second  // an agent unheard of this long is lost
	coordEvery  = time.Second      // the coordinator's heartbeat
	orphanAfter = 10 * time.Second // an agent whose coordinator is unheard of this long gives its claim up
)

// Agent serves jobs from coordinators, one at a time.
type Agent struct {
	NC   *nats.Conn
	Name string
	// Log gets a line for each thing the agent does.
	Log io.Writer
	// Build makes the design a job names (targets.Lookup, or an HTTP
	// service at job.HTTPURL), on backends that hand out the job's
	// servers.
	Build func(job *Job) (targets.Target, error)

	svc micro.Service
	js  jetstream.JetStream

	mu        sync.Mutex
	run       string    // the run that claimed the agent, or ""
	heard     time.Time // the claimer's last heartbeat
	coordSub  *nats.Subscription
	cancelJob context.CancelFunc
	busy      bool
	jobs      sync.WaitGroup
}

func (a *Agent) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, "agent %s: "+format+"\n", append([]any{a.Name}, args...)...)
	}
}

// Serve registers the agent and serves jobs until ctx ends; then it stops
// the job under way (its part is still sent, marked interrupted) and
// leaves.
func (a *Agent) Serve(ctx context.Context) error {
	var err error
	if a.js, err = jetstream.New(a.NC); err != nil {
		return err
	}
	a.svc, err = micro.AddService(a.NC, micro.Config{
		Name: Service, Version: "1.0.0", Description: "stampede agent: sends a share of a run's buyers (" + Protocol + ")",
		Metadata: map[string]string{"name": a.Name, "protocol": Protocol},
	})
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	defer a.svc.Stop()
	id := a.svc.Info().ID
	for verb, h := range map[string]micro.HandlerFunc{"claim": a.claim, "prepare": a.prepare, "release": a.release} {
		if err := a.svc.AddEndpoint(verb, h, micro.WithEndpointSubject(agentSubject(id, verb))); err != nil {
			return fmt.Errorf("register %s: %w", verb, err)
		}
	}
	a.logf("ready, as %s %s", Service, id)
	watch := time.NewTicker(time.Second)
	defer watch.Stop()
	for {
		select {
		case <-ctx.Done():
			a.mu.Lock()
			if a.cancelJob != nil {
				a.cancelJob()
			}
			a.mu.Unlock()
			a.jobs.Wait()
			return nil
		case <-watch.C:
			a.mu.Lock()
			if a.run != "" && time.Since(a.heard) > orphanAfter {
				a.logf("run %s: no word from its coordinator for %s: claim given up", a.run, orphanAfter)
				a.dropClaim()
			}
			a.mu.Unlock()
		}
	}
}

// dropClaim ends the claim and any job of it; a.mu is held.
func (a *Agent) dropClaim() {
	if a.cancelJob != nil {
		a.cancelJob()
	}
	if a.coordSub != nil {
		_ = a.coordSub.Unsubscribe()
		a.coordSub = nil
	}
	a.run = ""
}

func (a *Agent) answer(req micro.Request, err error) {
	ans := Answer{Agent: a.Name}
	if err != nil {
		ans.Error = err.Error()
	}
	_ = req.RespondJSON(ans)
}

func (a *Agent) claim(req micro.Request) {
	var c Claim
	if err := decode(req.Data(), &c, "claim"); err != nil {
		a.answer(req, err)
		return
	}
	if c.Protocol != Protocol {
		a.answer(req, fmt.Errorf("speaks %s, not %q", Protocol, c.Protocol))
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch a.run {
	case c.Run:
		a.answer(req, nil)
		return
	case "":
	default:
		a.answer(req, fmt.Errorf("busy: claimed by run %s", a.run))
		return
	}
	sub, err := a.NC.Subscribe(coordSubject(c.Run), func(*nats.Msg) {
		a.mu.Lock()
		a.heard = time.Now()
		a.mu.Unlock()
	})
	if err != nil {
		a.answer(req, err)
		return
	}
	a.run, a.heard, a.coordSub = c.Run, time.Now(), sub
	a.logf("claimed by run %s", c.Run)
	a.answer(req, nil)
}

func (a *Agent) release(req micro.Request) {
	var c Claim
	_ = decode(req.Data(), &c, "release")
	a.mu.Lock()
	if a.run == c.Run && c.Run != "" {
		a.logf("released by run %s", c.Run)
		a.dropClaim()
	}
	a.mu.Unlock()
	a.answer(req, nil)
}

// prepare takes a job: it answers once the share is ready to start (or
// failed before), and the job goes on in the background.
func (a *Agent) prepare(req micro.Request) {
	var job Job
	if err := decode(req.Data(), &job, "job"); err != nil {
		a.answer(req, err)
		return
	}
	a.mu.Lock()
	switch {
	case job.Protocol != Protocol:
		a.mu.Unlock()
		a.answer(req, fmt.Errorf("speaks %s, not %q", Protocol, job.Protocol))
		return
	case a.run != job.Run:
		a.mu.Unlock()
		a.answer(req, fmt.Errorf("not claimed by run %s", job.Run))
		return
	case a.busy:
		a.mu.Unlock()
		a.answer(req, errors.New("busy with a job"))
		return
	case job.Scenario == nil || !job.Share.Valid():
		a.mu.Unlock()
		a.answer(req, errors.New("the job lacks a scenario or a share"))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.busy, a.cancelJob = true, cancel
	a.jobs.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.jobs.Done()
		a.runJob(ctx, &job, req)
		cancel()
		a.mu.Lock()
		a.busy, a.cancelJob = false, nil
		a.mu.Unlock()
	}()
}

// runJob runs one share and sends its part; req is answered "ready" when
// the share can start, or with the error that came first.
func (a *Agent) runJob(ctx context.Context, job *Job, req micro.Request) {
	var once sync.Once
	reply := func(err error) { once.Do(func() { a.answer(req, err) }) }
	share := fmt.Sprintf("%d/%d", job.Share.Index+1, job.Share.Of)
	a.logf("run %s %s: %s, share %s", job.Run, job.Job, job.Design, share)

	// Heartbeats from now to the last chunk.
	var live atomic.Pointer[bench.Progress]
	var ready, done atomic.Bool
	beats := make(chan struct{})
	beatsDone := make(chan struct{})
	go func() {
		defer close(beatsDone)
		t := time.NewTicker(beatEvery)
		defer t.Stop()
		for {
			b := Beat{Agent: a.Name, Ready: ready.Load(), Done: done.Load()}
			if p := live.Load(); p != nil {
				b.ElapsedNS, b.Attempts, b.AttemptsPS, b.P99NS, b.Sold = int64(p.Elapsed), p.Attempts, p.AttemptsPS, int64(p.P99), p.Sold
				b.CompleteNS, b.Outcomes, b.Responses, b.ResponseUS = int64(p.Complete), p.Outcomes, p.Responses, p.ResponseUS
				b.LateSends, b.MaxLagNS, b.Expired = p.LateSends, int64(p.MaxLag), p.Expired
			}
			if data, err := json.Marshal(b); err == nil {
				_ = a.NC.Publish(beatSubject(job.Run, job.Job, a.Name), data)
			}
			select {
			case <-beats:
				return
			case <-t.C:
			}
		}
	}()
	defer func() { done.Store(true); close(beats); <-beatsDone }()

	goCh := make(chan struct{})
	var goOnce sync.Once
	goSub, err := a.NC.Subscribe(goSubject(job.Run, job.Job), func(*nats.Msg) { goOnce.Do(func() { close(goCh) }) })
	if err != nil {
		reply(err)
		return
	}
	defer goSub.Unsubscribe()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopSub, err := a.NC.Subscribe(stopSubject(job.Run, job.Job), func(*nats.Msg) { stop() })
	if err != nil {
		reply(err)
		return
	}
	defer stopSub.Unsubscribe()

	part, err := func() (*bench.Part, error) {
		t, err := a.Build(job)
		if err != nil {
			return nil, err
		}
		defer t.Close()
		plan := scenario.NewPlan(job.Scenario)
		opt := bench.Options{
			Progress: func(p bench.Progress) { live.Store(&p) },
			Start: func(ctx context.Context) error {
				ready.Store(true)
				reply(nil)
				select {
				case <-goCh:
					a.logf("run %s %s: go", job.Run, job.Job)
					return nil
				case <-ctx.Done():
					return fmt.Errorf("stopped before the go: %w", context.Cause(ctx))
				}
			},
		}
		return bench.RunShare(runCtx, job.Design, t, plan, job.Share, opt)
	}()
	if err != nil {
		a.logf("run %s %s: %v", job.Run, job.Job, err)
		reply(err)
		part = &bench.Part{Share: job.Share, Error: err.Error()}
	}
	reply(nil) // answered already, unless the share never reached its start
	part.Agent = a.Name
	if err := a.send(ctx, job, part); err != nil {
		a.logf("run %s %s: sending the figures: %v", job.Run, job.Job, err)
		return
	}
	a.logf("run %s %s: figures sent (%d attempts)", job.Run, job.Job, part.Attempts())
}

// send publishes part to the parts stream, chunk by chunk, each with a
// message id, retrying a chunk whose acknowledgement did not come.
func (a *Agent) send(ctx context.Context, job *Job, part *bench.Part) error {
	data, err := part.Encode()
	if err != nil {
		return err
	}
	n := max((len(data)+chunkSize-1)/chunkSize, 1)
	subj := partSubject(job.Run, job.Job, a.Name)
	for i := range n {
		chunk := data[i*chunkSize : min((i+1)*chunkSize, len(data))]
		msg := nats.NewMsg(subj)
		msg.Data = chunk
		msg.Header.Set(hdrChunk, strconv.Itoa(i))
		msg.Header.Set(hdrChunks, strconv.Itoa(n))
		id := job.Run + "." + job.Job + "." + token(a.Name) + "." + strconv.Itoa(i)
		var last error
		for try := range 5 {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, last = a.js.PublishMsg(pctx, msg, jetstream.WithMsgID(id))
			cancel()
			if last == nil {
				break
			}
			time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
		}
		if last != nil {
			return fmt.Errorf("chunk %d of %d: %w", i+1, n, last)
		}
	}
	return nil
}
