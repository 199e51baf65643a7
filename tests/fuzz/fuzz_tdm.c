/*
 * fuzz_tdm.c - .tdm model files as they are, framing and all: magic, version, flags,
 * header length, CRC, then the header and tensor table (fuzz_tdm.h). Both loaders,
 * td_infer_open_buffer and td_nn_load, must refuse the same files or load them.
 */
#include "fuzz_tdm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    TD_FUZZ_BEGIN();
    tdm_infer(data, size, 0);
    tdm_nn(data, size, 0);
    TD_FUZZ_END();
    return 0;
}
