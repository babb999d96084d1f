/** Implementation helpers shared by the controller's packages; not for other modules. */
package io.tandem.controller.internal;
