package safetensors_test

import (
	"bytes"
	"fmt"

	"github.com/tapegrad/tapegrad/internal/safetensors"
)

// Writing two tensors and reading them back.
func Example() {
	var buf bytes.Buffer
	err := safetensors.Write(&buf, []safetensors.Tensor{
		{Name: "dense/kernel", DType: safetensors.F32, Shape: []int{2, 2}, Data: safetensors.Float32Bytes([]float32{1, 2, 3, 4})},
		{Name: "dense/bias", DType: safetensors.F32, Shape: []int{2}, Data: safetensors.Float32Bytes([]float32{0.5, -0.5})},
	}, map[string]string{"format": "tapegrad"})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := safetensors.Parse(buf.Bytes())
	if err != nil {
		fmt.Println(err)
		return
	}
	k, _ := f.Tensor("dense/kernel")
	fmt.Println(len(f.Tensors), k.DType, k.Shape, f.Metadata["format"])
	// Output: 2 F32 [2 2] tapegrad
}
