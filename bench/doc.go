// Package bench is stampede's engine: it drives a design (a
// targets.Target) with a scenario's plan, open loop or closed loop,
// records every attempt's response and service time from its intended
// start into HdrHistograms, reads the design's system of record when the
// run is over and checks it against what buyers were told.
//
// Run drives one design; RunSuite is the whole run of several designs the
// CLI, a test or a coordinator asks for (preflight, then each design in
// turn: setup, run, audit, collect; results.json written at the end).
// Scenarios and plans are in package scenario, the figures' schema in
// package results; the event loop closed-loop users can run on is in
// package evloop.
package bench
