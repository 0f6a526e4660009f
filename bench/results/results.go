package results

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stampede-bench/stampede/bench/scenario"
	"github.com/stampede-bench/stampede/targets"
)

// Schema is the value of results.json's schema field.
const Schema = "stampede/results/v1"

// Version is stampede's version, set at build time with
// -ldflags "-X github.com/stampede-bench/stampede/bench/results.Version=...".
var Version = "0.1.0-dev"

// Results is the content of results.json: the public contract for CI jobs
// and reports. Fields may be added; none is removed without a new schema.
type Results struct {
	Schema      string             `json:"schema"`
	StartedAt   time.Time          `json:"started_at"`
	Interrupted bool               `json:"interrupted"`
	Scenario    *scenario.Scenario `json:"scenario"`
	Environment Environment        `json:"environment"`
	// Targets names every design the run was asked for, in order: a
	// design missing from Runs never started (the run was interrupted
	// first).
	Targets []string `json:"targets,omitempty"`
	// Repeat is how many times each design ran (-repeat N), when above 1:
	// each run of Runs then holds its repetitions (TargetRun.Repetitions).
	Repeat int          `json:"repeat,omitempty"`
	Runs   []*TargetRun `json:"runs"`
}

// Environment is where the run happened.
type Environment struct {
	Go       string `json:"go"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
	Stampede string `json:"stampede"`
}

// New starts the results of a run of sc.
func New(sc *scenario.Scenario, started time.Time) *Results {
	return &Results{
		Schema: Schema, StartedAt: started.UTC(), Scenario: sc, Runs: []*TargetRun{},
		Environment: Environment{Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
			CPUs: runtime.NumCPU(), Stampede: Version},
	}
}

// TargetRun is one target's figures.
type TargetRun struct {
	Target string       `json:"target"`
	Info   targets.Info `json:"info"`
	// Loop is "open" (latency from the intended start) or "closed".
	Loop        string `json:"loop"`
	Interrupted bool   `json:"interrupted,omitempty"`
	// Incomplete says that an agent of a spread run was lost or failed:
	// its share's figures are missing (Agents tells which).
	Incomplete bool   `json:"incomplete,omitempty"`
	Error      string `json:"error,omitempty"` // the run failed: setup, client or audit
	// StartedAt is when this design's load began (the run's time zero,
	// from which timeline seconds count).
	StartedAt time.Time `json:"started_at,omitzero"`
	DurationS float64   `json:"duration_s"`
	// ThroughputPerS counts definite answers (confirmed, sold out,
	// rejected) per second.
	ThroughputPerS float64 `json:"throughput_per_s"`
	// GoodputPerS counts the orders confirmed per second (each order once,
	// however many clicks it took), and SeatsPerS the seats they bought:
	// the sales beside the answers of ThroughputPerS.
	GoodputPerS float64  `json:"goodput_per_s"`
	SeatsPerS   float64  `json:"seats_per_s"`
	SoldOutAtS  *float64 `json:"sold_out_at_s,omitempty"`
	Orders      Orders   `json:"orders"`
	LatencyUS   Latency  `json:"latency_us"`
	// LatencyByOutcome splits response time by each submission's final
	// outcome ("confirmed", "sold_out", ...); outcomes that never
	// occurred are absent.
	LatencyByOutcome map[string]Latency `json:"latency_by_outcome_us"`
	ServiceUS        Latency            `json:"service_us"`
	// AcceptedUS is set for a design that answers in two phases: each
	// submission's time from its intended start to "accepted"; LatencyUS
	// is then the time to the final answer.
	AcceptedUS *Latency  `json:"accepted_us,omitempty"`
	Checks     Checks    `json:"checks"`
	Generator  Generator `json:"generator"`
	// WaitingRoom is set when a waiting room held the buyers.
	WaitingRoom *WaitingRoom `json:"waiting_room,omitempty"`
	// ReadYourWrites is set on a scenario whose buyers read after buying
	// (client.read_after_buy), for a design with a read side.
	ReadYourWrites *ReadYourWrites `json:"read_your_writes,omitempty"`
	Histograms     Histograms      `json:"histograms"`
	Timeline       []Second        `json:"timeline"`
	// Faults are the scenario's faults as they happened during this
	// design's run.
	Faults []FaultWindow `json:"faults,omitempty"`

	// Agents are set when agents in other processes sent the buyers
	// (stampede run -agents K): the figures above merge theirs exactly.
	Agents []Agent `json:"agents,omitempty"`

	// Repetition (from 1) and Seed are set on each repetition of a run
	// that repeated every design (-repeat N above 1).
	Repetition int    `json:"repetition,omitempty"`
	Seed       uint64 `json:"seed,omitempty"`
	// Repetitions holds, when every design ran several times, each
	// repetition's whole figures in the order of their seeds. The figures
	// of this TargetRun are then those of its median repetition (by p99
	// response time; see Representative), and Spread summarises them all:
	// read Spread for medians and for how many repetitions showed each
	// defect.
	Repetitions []*TargetRun `json:"repetitions,omitempty"`
	Spread      *Spread      `json:"spread,omitempty"`

	// Response and Service are the merged histograms, for reports.
	Response *hdrhistogram.Histogram `json:"-"`
	Service  *hdrhistogram.Histogram `json:"-"`
}

// Orders counts orders and attempts. Outcomes count attempts: confirmed +
// sold_out + rejected + unknown + errors == attempts.
//
// Every buyer is accounted for: buyers == submitted + not_sent. In open
// loop every scheduled submission too: scheduled == submissions +
// queued_at_end + not_due.
type Orders struct {
	// Buyers counts distinct orders: those the plan schedules (open
	// loop), or those the users placed (closed loop).
	Buyers    int64 `json:"buyers"`
	Submitted int64 `json:"submitted"` // distinct orders sent at least once
	// NotSent counts buyers none of whose clicks reached the design: their
	// timeout ran out while they waited for a free sender (see Expired),
	// or the run ended first (see QueuedAtEnd, NotDue).
	NotSent  int64 `json:"not_sent"`
	Attempts int64 `json:"attempts"` // calls to Buy, retries and double-clicks included
	// Bought counts the distinct orders confirmed to their buyers, and
	// Seats the seats they bought: the sales, from which goodput is
	// counted.
	Bought    int64 `json:"bought"`
	Seats     int64 `json:"seats"`
	Confirmed int64 `json:"confirmed"`
	SoldOut   int64 `json:"sold_out"`
	Rejected  int64 `json:"rejected"`
	Unknown   int64 `json:"unknown"`
	Errors    int64 `json:"errors"`
	Conflicts int64 `json:"conflicts"`
	Retries   int64 `json:"retries"`
	// LateRetries counts the submissions that were late retries of an
	// order answered long before (client.late_retry).
	LateRetries int64 `json:"late_retries,omitempty"`
	// LateAnswers counts final answers of a design of two phases that came
	// after their buyer had given up: never lost, counted apart.
	LateAnswers int64 `json:"late_answers,omitempty"`
	// Submissions counts submissions (orders plus double-clicks) that
	// ended: answered, or timed out after a send or in the queue.
	Submissions int64 `json:"submissions"`
	// Scheduled counts the submissions the plan scheduled (open loop).
	Scheduled int64 `json:"scheduled"`
	// Expired counts attempts never sent because the buyer's timeout ran
	// out while it waited for a free sender: a timeout to the buyer, which
	// the design never saw (the timeout runs from the click, see README).
	Expired int64 `json:"expired"`
	// QueuedAtEnd counts submissions that were due before the run ended
	// but still waited for a free sender when it did: the design fell
	// behind the crowd. Their response time counts to the end of the run.
	QueuedAtEnd int64 `json:"queued_at_end"`
	// NotDue counts submissions scheduled after the run ended (it was
	// stopped early: stop.duration, stop.sold_out, Ctrl-C).
	NotDue int64 `json:"not_due"`
	// ErrorSamples holds a few distinct messages of Error, Rejected and
	// Unknown replies, to tell what went wrong.
	ErrorSamples []string `json:"error_samples,omitempty"`
	// Causes counts the answers that were not definite yeses or noes
	// (unknown, error, rejected) and the conflicts the designs retried, by
	// their backend cause, most frequent first.
	Causes []Cause `json:"causes,omitempty"`
}

// Cause is one class of failure and how often it came.
type Cause struct {
	// Kind is what the cause did: "conflict" (retried inside the design),
	// or the outcome of the attempts it failed ("unknown", "error",
	// "rejected").
	Kind string `json:"kind"`
	// Class is the backend's cause class: "sqlstate 40001
	// (serialization_failure)", "jetstream 10071 (wrong last sequence)",
	// "timeout", "connection reset", ... (targets.CauseOf).
	Class  string `json:"class"`
	Count  int64  `json:"count"`
	Sample string `json:"sample,omitempty"` // one message of this class
}

// Latency summarises a histogram, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	Max   int64   `json:"max"`
}

// Checks are the correctness figures, from replies and the audit.
type Checks struct {
	Capacity         int64   `json:"capacity"`
	Sold             int64   `json:"sold"`
	Oversold         int64   `json:"oversold"`
	DuplicatedOrders int64   `json:"duplicated_orders"`
	DuplicateRate    float64 `json:"duplicate_rate"`
	Lost             int64   `json:"lost"`
	Phantom          int64   `json:"phantom"`
	Apologies        int64   `json:"apologies"`
	// Contradicted counts orders told both yes and no: a resubmission
	// answered "sold out" though an earlier click of it bought the seats
	// (or the reverse). The buyer was told something false.
	Contradicted int64 `json:"contradicted"`
	// Unresolved counts orders that never had a definite answer; of them,
	// UnresolvedApplied were applied after all.
	Unresolved        int64 `json:"unresolved"`
	UnresolvedApplied int64 `json:"unresolved_applied"`
	// RefusedUnknown counts orders never confirmed that one attempt was
	// told no and another got no definite answer (a timeout, then "sold
	// out" on the retry, say); of them, RefusedApplied were applied after
	// all: the buyer's one definite answer was no, yet the seats are
	// theirs. A design that answers a resubmission with its original
	// outcome shows none.
	RefusedUnknown int64 `json:"refused_unknown"`
	RefusedApplied int64 `json:"refused_applied"`
	// LimitExceeded counts buyers who hold more tickets than the
	// scenario's per-buyer limit (demand.buyer_limit) across their orders,
	// from the audit.
	LimitExceeded int64 `json:"limit_exceeded,omitempty"`
	// Foreign counts order ids in the audit that the run never made.
	Foreign int64 `json:"foreign"`
	// Undersold counts lost sales: seats left unsold although buyers for
	// them were turned away. Per product, the smaller of the seats left
	// (capacity - sold, from the audit) and the seats of the orders
	// refused while stock remained; summed over products. An order was
	// refused while stock remained when a reply told it no (sold out,
	// rejected, or an error: a definite failure, the order not applied),
	// it was never confirmed nor applied, and its quantity fits
	// in the seats its product still had at the end of the run (seats are
	// only ever taken, so it had at least as many when it was refused);
	// an order refused because it would cross the buyer's limit
	// (demand.buyer_limit) is not counted.
	Undersold int64 `json:"undersold"`
}

// Generator tells how well the load generator kept its schedule.
type Generator struct {
	Workers int `json:"workers"`
	// LagUS summarises the send lag of open-loop submissions: from the
	// intended send to the actual one. It is the floor under every
	// response time: a design cannot be measured faster than the
	// generator sends. Its histogram is histograms.lag.
	LagUS    Latency `json:"lag_us"`
	MaxLagUS int64   `json:"max_lag_us"` // latest send after its intended time
	// LateSends counts sends that left more than 1ms after their intended
	// time: every worker was busy (a slow design, or too few -workers) or
	// the machine was saturated. Response time includes the wait.
	LateSends int64 `json:"late_sends"`
	// Clamped counts latencies above the histograms' range, recorded at
	// their top.
	Clamped int64 `json:"clamped"`
	// AttemptRate is attempts per second from the start to the last
	// scheduled send (open loop), or over the run (closed loop).
	AttemptRate float64 `json:"attempt_rate"`
}

// Histograms holds the merged histograms, HdrHistogram V2 compressed and
// base64-encoded, in microseconds.
type Histograms struct {
	Response string `json:"response"`
	Service  string `json:"service"`
	Lag      string `json:"lag,omitempty"` // the generator's send lag (open loop)
	// VisibilityLag is the read side's visibility lag (ReadYourWrites).
	VisibilityLag string `json:"visibility_lag,omitempty"`
	// Accepted is the time to "accepted" of a design of two phases.
	Accepted string `json:"accepted,omitempty"`
	// RoomWait is the time in the waiting room (WaitingRoom).
	RoomWait string `json:"room_wait,omitempty"`
}

// WaitingRoom is what the buyers of a run with a waiting room went
// through before the design saw their orders. The response time still
// runs from the click; the service time, from the send after admission.
type WaitingRoom struct {
	Rate float64 `json:"rate"` // admissions a second
	// WaitUS is each submission's time from the click to its admission.
	WaitUS Latency `json:"wait_us"`
	// MaxQueue is the most buyers waiting at once; the timeline's queue
	// field, how many waited at the end of each second.
	MaxQueue int64 `json:"max_queue"`
}

// ReadYourWrites is what buyers saw when they read their orders right
// after a confirmed buy, as the next page does.
type ReadYourWrites struct {
	// Reads counts the reads right after a confirmed buy; Violations,
	// those that did not show the order (a read-your-own-writes
	// violation), and ViolationRate their share of the reads.
	Reads         int64   `json:"reads"`
	Violations    int64   `json:"violations"`
	ViolationRate float64 `json:"violation_rate"`
	// ReadErrors counts reads that failed (counted apart, never taken for
	// a stale read).
	ReadErrors int64 `json:"read_errors"`
	// NeverVisible counts orders read again for the whole read_wait that
	// never showed; NotMeasured, stale orders whose lag was not measured
	// (the reader's queue was full, or the run was interrupted).
	NeverVisible int64 `json:"never_visible"`
	NotMeasured  int64 `json:"not_measured"`
	// LagUS is the visibility lag: from the confirmation until a read
	// showed the order; 0 for an order shown at once. Orders that never
	// showed are not in it.
	LagUS Latency `json:"lag_us"`
}

// Second is one second of the run, by the time replies arrived.
type Second struct {
	T         int   `json:"t_s"`
	Attempts  int64 `json:"attempts"`
	Confirmed int64 `json:"confirmed"`
	SoldOut   int64 `json:"sold_out"`
	Rejected  int64 `json:"rejected"`
	Unknown   int64 `json:"unknown"`
	Errors    int64 `json:"errors"`
	Sold      int64 `json:"sold"`
	P50US     int64 `json:"p50_us"`
	P99US     int64 `json:"p99_us"`
	// Queue is how many buyers were in the waiting room at the end of
	// the second (WaitingRoom).
	Queue int64 `json:"queue,omitempty"`
}

// Summarize returns a histogram's count, mean and percentiles.
func Summarize(h *hdrhistogram.Histogram) Latency {
	return Latency{Count: h.TotalCount(), Mean: h.Mean(), P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90),
		P99: h.ValueAtQuantile(99), P999: h.ValueAtQuantile(99.9), Max: h.Max()}
}

// EncodeHistogram writes a histogram as results.json holds it: HdrHistogram's
// V2 compressed encoding, in base64, as every HdrHistogram library reads
// it (Java's Histogram.decodeFromCompressedByteBuffer after a base64
// decode, Python's hdrh decode).
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase) // already base64
	if err != nil {
		return "", fmt.Errorf("histogram: %w", err)
	}
	return string(b), nil
}

// DecodeHistogram reads a histogram of results.json. Files written before
// 0.1.0 hold the encoding base64-encoded twice; they are read too.
func DecodeHistogram(s string) (*hdrhistogram.Histogram, error) {
	h, err := hdrhistogram.Decode([]byte(s))
	if err == nil {
		return h, nil
	}
	if inner, berr := base64.StdEncoding.DecodeString(s); berr == nil {
		if h, ierr := hdrhistogram.Decode(inner); ierr == nil {
			return h, nil
		}
	}
	return nil, fmt.Errorf("histogram: %w", err)
}

// WriteFileAtomic writes b to path through a temporary file and a rename.
// The file is readable by all (0644, less the umask), as reports are
// meant to be shared.
func WriteFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing left to remove
	if err := f.Chmod(0o644 &^ umask()); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Write writes res to path as results.json, through a temporary file and
// a rename.
func Write(path string, res *Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteFileAtomic(path, append(b, '\n'))
}

// Read reads a results.json and checks its schema.
func Read(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if res.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, res.Schema, Schema)
	}
	return &res, nil
}

// FaultWindow is one fault of the scenario as it happened to a design:
// when it was put in and undone, what the design answered meanwhile, and
// how long it took to recover.
type FaultWindow struct {
	// Fault reads as a -fault flag does: "crash postgres at 4s for 1s".
	Fault string `json:"fault"`
	Kind  string `json:"kind"`
	On    string `json:"on"`
	// StartS is when it was put in, from the start of the load; EndS,
	// when it was undone and the backend was back (a crashed server
	// restarted and accepting connections).
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	// Skipped says why it was not put in (the design does not use that
	// backend, the run ended first); Error, why it failed to be put in or
	// undone; Note, what was done (which server was killed).
	Skipped string `json:"skipped,omitempty"`
	Error   string `json:"error,omitempty"`
	Note    string `json:"note,omitempty"`
	// Answers, Unknown and Errors count the attempts answered during the
	// window (from StartS to EndS): definite answers, unknown ones and
	// errors.
	Answers int64 `json:"answers"`
	Unknown int64 `json:"unknown"`
	Errors  int64 `json:"errors"`
	// BeforePerS is the rate of definite answers in the 2s before the
	// fault. RecoveryS is the time from EndS until the definite answers
	// of a 1s window were back to 90% of it; nil when they never were
	// before the run ended, or there was no rate before to return to.
	BeforePerS float64  `json:"before_per_s"`
	RecoveryS  *float64 `json:"recovery_s,omitempty"`
	// FailoverS is the time from StartS until the definite answers of a
	// 1s window were back to 90% of BeforePerS, the window wholly during
	// the fault (a replicated backend that failed over while its server
	// was down) or wholly after it (then FailoverS is EndS - StartS +
	// RecoveryS); nil as RecoveryS.
	FailoverS *float64 `json:"failover_s,omitempty"`
	// Unmeasured says that the run ended too soon after the fault (less
	// than 1s, with the rate not yet back) to tell its recovery.
	Unmeasured bool `json:"recovery_unmeasured,omitempty"`
}

// Agent is one agent of a spread run and what it measured of its share:
// submissions i of the plan with i % Of == Share-1 (open loop), or users
// u with u % Of == Share-1 (closed loop).
type Agent struct {
	Name  string `json:"name"`
	Share int    `json:"share"` // from 1
	Of    int    `json:"of"`
	// Complete is false when the agent was lost (it stopped answering)
	// or failed before it sent its figures: Error says which. Its
	// share's orders are then counted as unknown answers.
	Complete  bool    `json:"complete"`
	Error     string  `json:"error,omitempty"`
	Workers   int     `json:"workers,omitempty"`
	DurationS float64 `json:"duration_s,omitempty"`
	Attempts  int64   `json:"attempts,omitempty"`
	// LatencyUS and Response are the agent's own response times, which
	// the run's merge exactly: the merged histogram is the sum of the
	// agents' (HdrHistogram V2 compressed, base64).
	LatencyUS *Latency `json:"latency_us,omitempty"`
	Response  string   `json:"response,omitempty"`
}
