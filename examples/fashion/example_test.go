package main

import "fmt"

// The chapter's models this example trains, by -models name.
func Example() {
	for _, m := range models {
		fmt.Printf("%-10s %s\n", m.name, m.desc)
	}
	// Output:
	// leaky_relu 300-100-10, LeakyReLU(alpha=0.2), he_normal, SGD(1e-3)
	// prelu      300-100-10, PReLU, he_normal, SGD(1e-3)
	// selu100    100 × Dense(100, selu, lecun_normal), standardized inputs, SGD(1e-3, momentum 0.9)
	// relu100    100 × Dense(100, relu, he_normal), standardized inputs, SGD(1e-3, momentum 0.9)
	// bn         BN-300-BN-100-BN-10, relu, he_normal, SGD (Keras's default, 0.01)
	// bn_before  BN-300-BN-relu-100-BN-relu-10, no Dense bias, he_normal, SGD (0.01)
}
