/* status.c -- messages and names of the status codes of XY_STATUS_MAP. */
#include "xinyong.h"

const char *xy_strerror(int status)
{
    switch (status) {
    case XY_OK: return "success";
#define XY__MSG(name, value, text) case XY_##name: return text;
        XY_STATUS_MAP(XY__MSG)
#undef XY__MSG
    }
    return "unknown error";
}

const char *xy_errname(int status)
{
    switch (status) {
    case XY_OK: return "XY_OK";
#define XY__NAME(name, value, text) case XY_##name: return "XY_" #name;
        XY_STATUS_MAP(XY__NAME)
#undef XY__NAME
    }
    return "XY_UNKNOWN";
}
