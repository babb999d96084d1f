/**
 * The controller's typed, unchecked failures. Each class's Javadoc names the HTTP status the proxy answers with
 * and the gRPC code the ClusterControl service uses.
 */
package io.tandem.controller.errors;
