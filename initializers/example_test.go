package initializers_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/tapegrad/tapegrad/initializers"
)

// He initialization for a 784→300 ReLU layer: the drawn values have the
// variance 2/fan_in of Table 11-1.
func Example() {
	init, err := initializers.Lookup("he_normal")
	if err != nil {
		fmt.Println(err)
		return
	}
	shape := []int{784, 300}
	w := make([]float64, 784*300)
	if err := init.Initialize(w, shape, rand.New(rand.NewPCG(42, 0))); err != nil {
		fmt.Println(err)
		return
	}
	var ss float64
	for _, v := range w {
		ss += v * v
	}
	fmt.Printf("std %.3f, want %.3f\n", math.Sqrt(ss/float64(len(w))), math.Sqrt(2.0/784))
	// Output: std 0.051, want 0.051
}

func ExampleLookup() {
	_, err := initializers.Lookup("he_normall")
	fmt.Println(err != nil)
	vs, _ := initializers.Lookup("GlorotUniform")
	fmt.Printf("%+v\n", vs)
	// Output:
	// true
	// {Scale:1 Mode:fan_avg Distribution:uniform Layout:keras}
}
