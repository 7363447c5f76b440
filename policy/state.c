// SPDX-License-Identifier: LGPL-2.1-or-later
#include <errno.h>
#include <string.h>

#include "state.h"

static const char *const names[UG_STATE_MAX] = {
	[UG_STATE_ENFORCED] = "enforced",
	[UG_STATE_PARTIAL] = "partial",
	[UG_STATE_WAITING] = "waiting",
	[UG_STATE_REFUSED] = "refused",
	[UG_STATE_UNRESOLVED] = "unresolved",
};

const char *ug_state_to_string(enum ug_state s)
{
	return (unsigned)s < UG_STATE_MAX ? names[s] : NULL;
}

int ug_state_from_string(const char *s)
{
	for (int i = 0; s && i < UG_STATE_MAX; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -EINVAL;
}

bool ug_state_in_force(enum ug_state s)
{
	return s == UG_STATE_ENFORCED || s == UG_STATE_PARTIAL;
}
