// Package results is the schema of results.json (stampede/results/v1): the
// figures of a run of several designs, how histograms are encoded in it,
// and reading and writing it whole (through a temporary file and a
// rename). Reports, gates and comparisons read only this package; the
// engine that fills it lives in package bench.
package results
