/* Unit tests of status.c: every status of XY_STATUS_MAP has its message
 * and its name, and a code outside the list is said to be unknown. */
#include "unit.h"
#include "xinyong.h"

/* Each status of the list, its message and its name, written out here by
 * hand so that a change to the list (a message reworded, a name misspelt
 * by the macro) shows up as a difference. */
TEST(status_every_code_has_its_message_and_name)
{
    static const struct {
        int status;
        const char *message, *name;
    } want[] = {
        {XY_OK, "success", "XY_OK"},
        {XY_EINVAL, "invalid argument", "XY_EINVAL"},
        {XY_ENOMEM, "out of memory", "XY_ENOMEM"},
        {XY_EIO, "input/output error", "XY_EIO"},
        {XY_ECORRUPT, "stored data is corrupt", "XY_ECORRUPT"},
        {XY_EINPUT, "invalid input", "XY_EINPUT"},
        {XY_EUNKNOWN, "unknown citizen or name", "XY_EUNKNOWN"},
        {XY_ECLOCK, "date is before today", "XY_ECLOCK"},
        {XY_ENOENT, "no such file or directory", "XY_ENOENT"},
        {XY_ELOCKED, "the data directory is locked by another writer", "XY_ELOCKED"},
        {XY_EEXIST, "already exists", "XY_EEXIST"},
        {XY_ENOSPC, "no space left on device", "XY_ENOSPC"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ASSERT_STR(xy_strerror(want[i].status), want[i].message);
        ASSERT_STR(xy_errname(want[i].status), want[i].name);
    }
    /* The list above is the whole list: the codes run from -1 down
     * without a gap, so one past the last is not a status. */
    int n = 0;
#define XY__COUNT(name, value, text) n++;
    XY_STATUS_MAP(XY__COUNT)
#undef XY__COUNT
    ASSERT_EQ(n + 1, sizeof want / sizeof want[0]);
}

/* A code that is no status (an errno value, a positive number, one past
 * the list) is named as unknown rather than mistaken for another. */
TEST(status_outside_the_list_is_unknown)
{
    const int others[] = {1, 2, XY_ENOSPC - 1, -1000, 12345};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        ASSERT_STR(xy_strerror(others[i]), "unknown error");
        ASSERT_STR(xy_errname(others[i]), "XY_UNKNOWN");
    }
}
