// Package agents spreads a run's buyers over stampede agents in other
// processes, on this machine or others, over NATS (stampede agent, stampede
// run -agents K). It is the transport; the engine (bench.RunShare,
// bench.Spreader) decides what an agent sends and how the parts merge.
//
// The protocol (stampede/agents/v1), all JSON:
//
//   - An agent registers a NATS micro service named "stampede-agent" with
//     its name in the metadata and three endpoints, on subjects of its own:
//     stampede.agent.<id>.claim, .prepare and .release.
//   - The coordinator finds agents with micro's $SRV.INFO.stampede-agent,
//     and claims K of them for its run ({"run": id}); an agent claimed by
//     another run says it is busy. While it holds them, the coordinator
//     publishes a heartbeat on stampede.run.<run>.coord every second; an
//     agent that hears none for 10 s gives its claim up.
//   - For each design (and repetition) the coordinator sets the design up,
//     then sends every agent a Job on .prepare. The agent builds the design
//     with the job's options and backends, attaches to the store
//     (targets.Attacher), makes its clients, and answers "ready"; once all
//     are ready the coordinator publishes stampede.run.<run>.go.<job>, and
//     each agent starts its share when it hears it: durations count from
//     there, never from clocks compared across machines.
//   - From prepare to its last figure, an agent publishes a Beat on
//     stampede.run.<run>.beat.<job>.<agent> twice a second; the
//     coordinator gives up an agent it has not heard from for 3 s.
//     stampede.run.<run>.stop.<job> stops every agent early (Ctrl-C).
//   - An agent sends its bench.Part to the JetStream stream STAMPEDE_PARTS
//     (which the coordinator creates) on stampede.parts.<run>.<job>.<agent>,
//     gzipped and cut into chunks of at most 256 KiB, each with a
//     Nats-Msg-Id of run, job, agent and chunk: a chunk published again
//     after a lost acknowledgement is stored once.
package agents

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/stampede-bench/stampede/bench"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// Service is the micro service name agents register under.
const Service = "stampede-agent"

// Protocol names this protocol in every message.
const Protocol = "stampede/agents/v1"

// Stream is the JetStream stream that carries the agents' parts.
const Stream = "STAMPEDE_PARTS"

const (
	partsPrefix = "stampede.parts."
	chunkSize   = 256 << 10
	// Headers of a part's chunks.
	hdrChunk  = "Stampede-Chunk"  // index, from 0
	hdrChunks = "Stampede-Chunks" // how many
)

func agentSubject(id, verb string) string { return "stampede.agent." + id + "." + verb }
func coordSubject(run string) string      { return "stampede.run." + run + ".coord" }
func goSubject(run, job string) string    { return "stampede.run." + run + ".go." + job }
func stopSubject(run, job string) string  { return "stampede.run." + run + ".stop." + job }
func beatSubject(run, job, agent string) string {
	return "stampede.run." + run + ".beat." + job + "." + token(agent)
}
func partSubject(run, job, agent string) string {
	return partsPrefix + run + "." + job + "." + token(agent)
}

// token makes s one NATS subject token.
func token(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r <= ' ' {
			return '_'
		}
		return r
	}, s)
}

// Claim asks an agent to work for one run.
type Claim struct {
	Protocol string `json:"protocol"`
	Run      string `json:"run"`
}

// Answer is an agent's answer to a claim, a prepare or a release.
type Answer struct {
	Agent string `json:"agent"`
	Error string `json:"error,omitempty"`
}

// Job is one design's run that an agent takes a share of.
type Job struct {
	Protocol string `json:"protocol"`
	Run      string `json:"run"`
	Job      string `json:"job"` // unique in the run: j1, j2, ...
	Design   string `json:"design"`
	// HTTPURL is set for a service of the user's own (run -http
	// NAME=URL): the agent reaches it there.
	HTTPURL string          `json:"http_url,omitempty"`
	Options targets.Options `json:"options,omitempty"`
	// The backends the coordinator set the design up on. Never print
	// them: they may hold passwords.
	Postgres     string `json:"postgres,omitempty"`
	NATS         string `json:"nats,omitempty"`
	NATSEmbedded bool   `json:"nats_embedded,omitempty"`
	// Scenario is the run's scenario with every override applied: with
	// its seed it gives every agent the same plan.
	Scenario *scenario.Scenario `json:"scenario"`
	Share    bench.Share        `json:"share"`
}

// Beat is an agent's heartbeat during a job, with its figures so far.
type Beat struct {
	Agent      string  `json:"agent"`
	Ready      bool    `json:"ready,omitempty"`
	Done       bool    `json:"done,omitempty"`
	ElapsedNS  int64   `json:"elapsed_ns"`
	Attempts   int64   `json:"attempts"`
	AttemptsPS float64 `json:"attempts_ps"`
	P99NS      int64   `json:"p99_ns"`
	Sold       int64   `json:"sold"`
	// Totals over the complete seconds (bench.Progress), for the
	// coordinator's live metrics.
	CompleteNS int64                                 `json:"complete_ns"`
	Outcomes   [targets.NumOutcomes]int64            `json:"outcomes"`
	Responses  [len(bench.ResponseBounds) + 1]uint64 `json:"responses"`
	ResponseUS float64                               `json:"response_us"`
	LateSends  int64                                 `json:"late_sends"`
	MaxLagNS   int64                                 `json:"max_lag_ns"`
	Expired    int64                                 `json:"expired"`
}

func decode(b []byte, v any, what string) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
