/**
 * Anthropic's Messages API ({@code POST /v1/messages}) as a translation layer over the OpenAI chat route: a
 * Messages request becomes a chat completion request routed like any other ({@code Router}), and the node's
 * answer, whole or streamed, becomes a Messages answer or Anthropic's SSE events. Errors get Anthropic bodies.
 */
package io.tandem.proxy.anthropic;
