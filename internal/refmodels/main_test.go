package refmodels_test

import (
	"os"
	"testing"
)

// TestMain turns compile's Verify on for every program these tests compile
// (each reference step is checked against the same graph compiled without
// the fusing passes) unless TAPEGRAD_VERIFY is set: TAPEGRAD_VERIFY=0 turns
// it off.
func TestMain(m *testing.M) {
	if _, set := os.LookupEnv("TAPEGRAD_VERIFY"); !set {
		if err := os.Setenv("TAPEGRAD_VERIFY", "1"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
