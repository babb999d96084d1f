/**
 * Calls to the nodes' own management API over HTTP ({@link io.tandem.controller.admin.NodeAdminClient}), for the
 * cluster-wide weight updates, sleep and wake-up the controller facade runs.
 */
package io.tandem.controller.admin;
