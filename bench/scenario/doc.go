// Package scenario reads, checks and describes the scenarios stampede
// runs (YAML files and the built-in ones: stock, demand, arrivals, client
// behaviour, stop rules) and turns one into a Plan: every buyer's product,
// quantity and send time fixed by the seed, so that every design of a run
// faces the same crowd. It knows nothing of designs or of the engine.
package scenario
