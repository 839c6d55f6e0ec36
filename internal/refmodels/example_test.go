package refmodels_test

import (
	"fmt"

	"github.com/tapegrad/tapegrad/internal/refmodels"
)

// The reference configurations and the batch sizes they are measured at.
func ExampleConfigs() {
	for _, c := range refmodels.Configs() {
		fmt.Printf("%s: %s, batches %v\n", c.Name, c.Desc, c.Batches)
	}
	// Output:
	// A: 784-300-100-10 SELU lecun_normal, batches [32 128 512]
	// B: 784-300-BN-ELU-100-BN-ELU-10 he_normal, batches [32 128 512]
	// C: 3072-(20×100 ELU he_normal)-10, batches [128]
	// D: inference of B, batches [1 256]
}
