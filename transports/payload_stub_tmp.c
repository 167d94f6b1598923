#include "transports/payload.h"
#include "agent/err.h"
void aiops_payload_options_init(struct aiops_payload_options *o)
{
    *o = (struct aiops_payload_options){0};
}
int aiops_payload_decode(const void *data, size_t len, const struct aiops_payload_options *o,
                         aiops_point_fn fn, void *ctx, struct aiops_payload_error *err)
{
    (void)data;
    (void)len;
    (void)o;
    (void)fn;
    (void)ctx;
    (void)err;
    return AIOPS_ENOSYS;
}
