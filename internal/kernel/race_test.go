//go:build race

package kernel

// raceEnabled: the race detector slows the tests' reference GEMMs tenfold;
// they then draw fewer random shapes.
const raceEnabled = true
