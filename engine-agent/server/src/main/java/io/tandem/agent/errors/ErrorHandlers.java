package io.tandem.agent.errors;

import io.micronaut.context.annotation.Requires;
import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.HttpStatus;
import io.micronaut.http.annotation.Produces;
import io.micronaut.http.exceptions.ContentLengthExceededException;
import io.micronaut.http.server.exceptions.ExceptionHandler;
import io.tandem.engine.errors.ChatTemplateException;
import io.tandem.engine.errors.ContextLengthExceededException;
import io.tandem.engine.errors.EngineClosedException;
import io.tandem.engine.errors.EngineException;
import io.tandem.engine.errors.EngineSleepingException;
import io.tandem.engine.errors.InvalidJsonSchemaException;
import io.tandem.engine.errors.WeightUpdateException;
import io.tandem.engine.errors.InvalidSamplingParamsException;
import io.tandem.engine.errors.QueueFullException;
import jakarta.inject.Singleton;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One {@link ExceptionHandler} per typed failure, each mapping to one status and an OpenAI-style body. They are
 * nested here because each is three lines; what they map is the table in docs/api.md.
 */
public final class ErrorHandlers {
    private static final Logger LOG = LoggerFactory.getLogger(ErrorHandlers.class);

    private ErrorHandlers() {
    }

    /** The agent's own failures carry their status, type and code. */
    @Produces
    @Singleton
    @Requires(classes = {ApiException.class, ExceptionHandler.class})
    public static final class ApiExceptionHandler implements ExceptionHandler<ApiException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, ApiException e) {
            return ApiError.response(e.status(), e.type(), e.code(), e.param(), e.getMessage());
        }
    }

    /** 400 naming the sampling parameter (temperature, top_p, max_tokens, ...). */
    @Produces
    @Singleton
    public static final class InvalidSamplingHandler
            implements ExceptionHandler<InvalidSamplingParamsException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, InvalidSamplingParamsException e) {
            return ApiError.response(HttpStatus.BAD_REQUEST, "invalid_request_error", "invalid_parameter",
                    e.parameter(), e.getMessage());
        }
    }

    /** 429: the engine's waiting queue is full; the client should back off and retry. */
    @Produces
    @Singleton
    public static final class QueueFullHandler implements ExceptionHandler<QueueFullException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, QueueFullException e) {
            return ApiError.response(HttpStatus.TOO_MANY_REQUESTS, "rate_limit_error", "queue_full", null,
                    e.getMessage()).header("Retry-After", "1");
        }
    }

    /** 400 with OpenAI's code for a prompt that does not fit. */
    @Produces
    @Singleton
    public static final class ContextLengthHandler
            implements ExceptionHandler<ContextLengthExceededException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, ContextLengthExceededException e) {
            return ApiError.response(HttpStatus.BAD_REQUEST, "invalid_request_error", "context_length_exceeded",
                    "messages", e.getMessage());
        }
    }

    /** 503 while the engine shuts down. */
    @Produces
    @Singleton
    public static final class EngineClosedHandler
            implements ExceptionHandler<EngineClosedException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, EngineClosedException e) {
            return ApiError.response(HttpStatus.SERVICE_UNAVAILABLE, "service_unavailable", "shutting_down", null,
                    e.getMessage());
        }
    }

    /** 400: the model's chat template refused the conversation (raise_exception), e.g. roles out of order. */
    @Produces
    @Singleton
    public static final class ChatTemplateHandler
            implements ExceptionHandler<ChatTemplateException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, ChatTemplateException e) {
            return ApiError.response(HttpStatus.BAD_REQUEST, "invalid_request_error", "invalid_messages", "messages",
                    e.getMessage());
        }
    }

    /** 400: the engine's own argument checks (token id outside the vocabulary, ...). */
    @Produces
    @Singleton
    public static final class IllegalArgumentHandler
            implements ExceptionHandler<IllegalArgumentException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, IllegalArgumentException e) {
            return ApiError.response(HttpStatus.BAD_REQUEST, "invalid_request_error", "invalid_parameter", null,
                    e.getMessage());
        }
    }

    /** 413 over {@code micronaut.server.max-request-size}. */
    @Produces
    @Singleton
    @io.micronaut.context.annotation.Replaces(io.micronaut.http.server.exceptions.ContentLengthExceededHandler.class)
    public static final class ContentLengthHandler
            implements ExceptionHandler<ContentLengthExceededException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, ContentLengthExceededException e) {
            return ApiError.response(HttpStatus.REQUEST_ENTITY_TOO_LARGE, "invalid_request_error",
                    "request_too_large", null, e.getMessage());
        }
    }

    /** 503 while the engine sleeps (/sleep); /wakeup brings it back. */
    @Produces
    @Singleton
    public static final class EngineSleepingHandler
            implements ExceptionHandler<EngineSleepingException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, EngineSleepingException e) {
            return ApiError.response(HttpStatus.SERVICE_UNAVAILABLE, "service_unavailable", "sleeping", null,
                    e.getMessage());
        }
    }

    /** 400 naming the tensor whose name, dtype or shape does not fit; the old weights stay. */
    @Produces
    @Singleton
    public static final class WeightUpdateHandler
            implements ExceptionHandler<WeightUpdateException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, WeightUpdateException e) {
            return ApiError.response(HttpStatus.BAD_REQUEST, "invalid_request_error", "invalid_tensor",
                    e.tensorName() == null ? "serialized_named_tensors" : e.tensorName(), e.getMessage());
        }
    }

    /** 400: a response_format schema the constraint compiler cannot use. */
    @Produces
    @Singleton
    public static final class InvalidJsonSchemaHandler
            implements ExceptionHandler<InvalidJsonSchemaException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, InvalidJsonSchemaException e) {
            return ApiError.response(HttpStatus.BAD_REQUEST, "invalid_request_error", "invalid_json_schema",
                    "response_format", e.getMessage());
        }
    }

    /** Any other engine failure is ours, not the client's: 500 with the message, logged. */
    @Produces
    @Singleton
    public static final class EngineExceptionHandler
            implements ExceptionHandler<EngineException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, EngineException e) {
            LOG.error("engine failure on {} {}", request.getMethod(), request.getPath(), e);
            return ApiError.response(HttpStatus.INTERNAL_SERVER_ERROR, "server_error", "engine_error", null,
                    e.getMessage());
        }
    }
}
