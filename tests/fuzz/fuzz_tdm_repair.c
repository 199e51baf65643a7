/*
 * fuzz_tdm_repair.c - .tdm model files with the framing repaired (fuzz_tdm.h): the input is
 * "header JSON \0 data", so mutations reach the tensor table, the topology, nn/'s nets and
 * infer/'s arena. Both loaders; nn/ runs one forward pass of every tower it loads, and its
 * policy tower is exported as ONNX and as DeepRacer's TensorFlow graph (trackday export).
 */
#include "fuzz_tdm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    size_t len;
    uint8_t *buf = tdm_repair(data, size, &len);
    tdm_infer(buf, len, 0);
    tdm_nn(buf, len, 1);
    free(buf);
    TD_FUZZ_END();
    return 0;
}
