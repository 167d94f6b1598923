/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the Influx line protocol decoder: arbitrary bytes as one message. It may be
 * rejected; nothing may crash, leak, emit a malformed point, or emit anything from a rejected
 * message. */
#include "tests/fuzz/payload_check.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_payload(aiops_payload_decode_influx, data, size);
    return 0;
}
