/*
 * test_hub_api.c - the hub's HTTP API by protocol scenarios (tests/data/hub/NAME.hub, described
 * in tests/data/hub/README.md), each against its own real `trackday serve` on loopback.
 */
#include "hub_scenario.h"

TD_TEST(api_accounts)
{
    hub_scenario("accounts.hub");
}

TD_TEST(api_login_rate_limit_and_expiry)
{
    hub_scenario("ratelimit.hub");
}

TD_TEST(api_models)
{
    hub_scenario("models.hub");
}

TD_TEST(api_jobs_and_worker_protocol)
{
    hub_scenario("jobs.hub");
}

TD_TEST(api_classes_and_quotas)
{
    hub_scenario("classes.hub");
}

TD_TEST(api_fleet_devices_and_deployments)
{
    hub_scenario("fleet.hub");
}
