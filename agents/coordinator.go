package agents

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/scenario"
)

// Coordinator holds K agents for a run and spreads each design's buyers
// over them: a bench.Spreader.
type Coordinator struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	run string
	log io.Writer
	// Jobs fills in what an agent needs to build design (its options,
	// backends, service URL); Spread adds the rest.
	Jobs func(ctx context.Context, design string) (Job, error)

	agents []agentRef
	jobSeq int
	stop   chan struct{}
	done   chan struct{}
}

type agentRef struct{ id, name string }

// Names returns the names of the agents held, in share order.
func (c *Coordinator) Names() []string {
	var out []string
	for _, a := range c.agents {
		out = append(out, a.name)
	}
	return out
}

func (c *Coordinator) logf(format string, args ...any) {
	if c.log != nil {
		fmt.Fprintf(c.log, "agents: "+format+"\n", args...)
	}
}

// Connect finds k idle agents on nc within wait and claims them, and
// makes the stream their parts come on.
func Connect(ctx context.Context, nc *nats.Conn, k int, wait time.Duration, log io.Writer) (*Coordinator, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = js.CreateOrUpdateStream(sctx, jetstream.StreamConfig{
		Name: Stream, Subjects: []string{partsPrefix + ">"}, Storage: jetstream.FileStorage,
		MaxAge: time.Hour, Duplicates: 10 * time.Minute,
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("the parts' stream %s: %w (the NATS server needs JetStream)", Stream, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	c := &Coordinator{nc: nc, js: js, run: hex.EncodeToString(b[:]), log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go c.heartbeat()
	deadline := time.Now().Add(wait)
	var why []string // the last round's agents not taken, and why
	for len(c.agents) < k {
		if err := ctx.Err(); err != nil {
			c.Close()
			return nil, err
		}
		found, err := c.discover()
		if err != nil {
			c.Close()
			return nil, err
		}
		for _, info := range found {
			if len(c.agents) == k {
				break
			}
			if slices.ContainsFunc(c.agents, func(a agentRef) bool { return a.id == info.ID }) {
				continue
			}
			name := info.Metadata["name"]
			if err := c.request(ctx, agentSubject(info.ID, "claim"), Claim{Protocol: Protocol, Run: c.run}, 5*time.Second); err != nil {
				why = append(why, name+": "+err.Error())
				continue
			}
			c.agents = append(c.agents, agentRef{id: info.ID, name: name})
		}
		if len(c.agents) == k {
			break
		}
		if time.Now().After(deadline) {
			slices.Sort(why)
			c.Close()
			msg := fmt.Sprintf("found %d of %d agents within %s", len(c.agents), k, wait)
			if len(why) > 0 {
				msg += fmt.Sprintf(" (not taken: %v)", why)
			}
			return nil, errors.New(msg + ": start more with 'stampede agent -nats URL'")
		}
		time.Sleep(200 * time.Millisecond)
		why = why[:0] // agents that were busy may be free now
	}
	// Shares follow the agents' names, so a run's shares are the same
	// whichever agent answered first.
	slices.SortFunc(c.agents, func(a, b agentRef) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.id, b.id))
	})
	c.logf("run %s holds %d agents: %v", c.run, k, c.Names())
	return c, nil
}

// discover asks every agent for its identity and gathers the answers
// that come within a moment.
func (c *Coordinator) discover() ([]micro.Info, error) {
	subj, err := micro.ControlSubject(micro.InfoVerb, Service, "")
	if err != nil {
		return nil, err
	}
	inbox := c.nc.NewRespInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := c.nc.PublishRequest(subj, inbox, nil); err != nil {
		return nil, err
	}
	var out []micro.Info
	end := time.Now().Add(300 * time.Millisecond)
	for {
		msg, err := sub.NextMsg(time.Until(end))
		if err != nil {
			return out, nil // the time for answers is up
		}
		var info micro.Info
		if json.Unmarshal(msg.Data, &info) == nil && info.ID != "" {
			out = append(out, info)
		}
	}
}

// request sends v and reads an Answer; its Error is returned as an error.
func (c *Coordinator) request(ctx context.Context, subj string, v any, timeout time.Duration) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(rctx, subj, data)
	if err != nil {
		return err
	}
	var ans Answer
	if err := decode(msg.Data, &ans, "answer"); err != nil {
		return err
	}
	if ans.Error != "" {
		return errors.New(ans.Error)
	}
	return nil
}

func (c *Coordinator) heartbeat() {
	defer close(c.done)
	t := time.NewTicker(coordEvery)
	defer t.Stop()
	for {
		_ = c.nc.Publish(coordSubject(c.run), nil)
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

// Close releases the agents.
func (c *Coordinator) Close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	<-c.done
	for _, a := range c.agents {
		_ = c.request(context.Background(), agentSubject(a.id, "release"), Claim{Protocol: Protocol, Run: c.run}, 2*time.Second)
	}
}

// partIn gathers one agent's chunks.
type partIn struct {
	chunks [][]byte
	have   int
	part   *bench.Part
	err    error // lost, or failed
	heard  time.Time
	beat   Beat
}

// Spread runs design's plan on the agents: a bench.Spreader.
func (c *Coordinator) Spread(ctx context.Context, design string, plan *scenario.Plan, progress func(bench.Progress)) ([]*bench.Part, error) {
	base, err := c.Jobs(ctx, design)
	if err != nil {
		return nil, err
	}
	c.jobSeq++
	jobID := "j" + strconv.Itoa(c.jobSeq)
	k := len(c.agents)
	in := make([]*partIn, k)
	byName := map[string]int{}
	now := time.Now()
	for i, a := range c.agents {
		in[i] = &partIn{heard: now}
		byName[token(a.name)] = i
	}
	var mu sync.Mutex
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	// Heartbeats and chunks, from before the first prepare.
	beatSub, err := c.nc.Subscribe("stampede.run."+c.run+".beat."+jobID+".*", func(m *nats.Msg) {
		var b Beat
		if json.Unmarshal(m.Data, &b) != nil {
			return
		}
		mu.Lock()
		if i, ok := byName[token(b.Agent)]; ok {
			in[i].heard, in[i].beat = time.Now(), b
		}
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	defer beatSub.Unsubscribe()
	cons, err := c.js.OrderedConsumer(ctx, Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{partsPrefix + c.run + "." + jobID + ".*"},
	})
	if err != nil {
		return nil, fmt.Errorf("agents: read the parts: %w", err)
	}
	prefix := partsPrefix + c.run + "." + jobID + "."
	consumed, err := cons.Consume(func(m jetstream.Msg) {
		name := m.Subject()[len(prefix):]
		idx, e1 := strconv.Atoi(m.Headers().Get(hdrChunk))
		n, e2 := strconv.Atoi(m.Headers().Get(hdrChunks))
		mu.Lock()
		defer mu.Unlock()
		i, ok := byName[name]
		if !ok || e1 != nil || e2 != nil || n < 1 || idx < 0 || idx >= n {
			return
		}
		p := in[i]
		if p.part != nil || p.err != nil {
			return
		}
		if p.chunks == nil {
			p.chunks = make([][]byte, n)
		}
		if idx >= len(p.chunks) || p.chunks[idx] != nil {
			return // a chunk again: counted once
		}
		p.chunks[idx] = slices.Clone(m.Data())
		p.have++
		p.heard = time.Now()
		if p.have == len(p.chunks) {
			var all []byte
			for _, ch := range p.chunks {
				all = append(all, ch...)
			}
			p.chunks = nil
			if p.part, p.err = bench.DecodePart(all); p.err == nil && p.part.Error != "" {
				p.err = errors.New(p.part.Error)
			}
			poke()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("agents: read the parts: %w", err)
	}
	defer consumed.Stop()

	// Prepare every agent; go once all are ready.
	var wg sync.WaitGroup
	for i, a := range c.agents {
		job := base
		job.Protocol, job.Run, job.Job = Protocol, c.run, jobID
		job.Scenario, job.Share = plan.Scenario, bench.Share{Index: i, Of: k}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.request(ctx, agentSubject(a.id, "prepare"), job, 2*time.Minute); err != nil {
				mu.Lock()
				if in[i].err == nil && in[i].part == nil {
					in[i].err = fmt.Errorf("prepare: %w", err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	mu.Lock()
	var failed []error
	for i, p := range in {
		if p.err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", c.agents[i].name, p.err))
		}
	}
	mu.Unlock()
	if len(failed) > 0 {
		_ = c.nc.Publish(stopSubject(c.run, jobID), nil)
		return nil, fmt.Errorf("agents: %w", errors.Join(failed...))
	}
	if err := c.nc.Publish(goSubject(c.run, jobID), nil); err != nil {
		return nil, err
	}
	began := time.Now()
	c.logf("%s started on %v", design, c.Names())

	// Until every agent sent its part or was lost.
	limit := time.NewTimer(bench.RunLimit(plan) + time.Minute) // the engine's own limit, and a margin
	defer limit.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	stopped := false
	for {
		mu.Lock()
		waiting := 0
		var sum bench.Progress
		for i, p := range in {
			if p.part != nil || p.err != nil {
				continue
			}
			if since := time.Since(p.heard); since > lostAfter {
				p.err = fmt.Errorf("lost: no heartbeat for %s", since.Round(100*time.Millisecond))
				c.logf("%s lost during %s (no heartbeat for %s): its share %d/%d is incomplete",
					c.agents[i].name, design, since.Round(100*time.Millisecond), i+1, k)
				continue
			}
			waiting++
		}
		complete := time.Duration(-1)
		for _, p := range in {
			b := p.beat
			sum.Attempts += b.Attempts
			sum.AttemptsPS += b.AttemptsPS
			sum.Sold += b.Sold
			sum.P99 = max(sum.P99, time.Duration(b.P99NS)) // the worst agent's: percentiles do not add
			for o, n := range b.Outcomes {
				sum.Outcomes[o] += n
			}
			for i, n := range b.Responses {
				sum.Responses[i] += n
			}
			sum.ResponseUS += b.ResponseUS
			sum.LateSends += b.LateSends
			sum.Expired += b.Expired
			sum.MaxLag = max(sum.MaxLag, time.Duration(b.MaxLagNS))
			if c := time.Duration(b.CompleteNS); complete < 0 || c < complete {
				complete = c
			}
		}
		sum.Complete = max(complete, 0)
		mu.Unlock()
		if waiting == 0 {
			break
		}
		if progress != nil {
			sum.Target, sum.Elapsed = design, time.Since(began)
			sum.Capacity, sum.Submissions = bench.StockOf(plan.Scenario).Total(), plan.Submissions()
			progress(sum)
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-limit.C:
			mu.Lock()
			for i, p := range in {
				if p.part == nil && p.err == nil {
					p.err = errors.New("sent no figures within the run's limit")
					c.logf("%s sent no figures within the run's limit", c.agents[i].name)
				}
			}
			mu.Unlock()
		case <-ctx.Done():
			if !stopped {
				stopped = true
				_ = c.nc.Publish(stopSubject(c.run, jobID), nil)
				// The agents stop at once and send what they measured;
				// the lost ones are given up as ever.
				limit.Reset(30 * time.Second)
			}
			ctx = context.WithoutCancel(ctx)
		}
	}
	parts := make([]*bench.Part, k)
	mu.Lock()
	defer mu.Unlock()
	for i, p := range in {
		switch {
		case p.err != nil:
			parts[i] = &bench.Part{Agent: c.agents[i].name, Share: bench.Share{Index: i, Of: k}, Error: p.err.Error()}
		default:
			parts[i] = p.part
			parts[i].Agent = c.agents[i].name
		}
	}
	return parts, nil
}
