package io.tandem.proxy.errors;

import io.micronaut.context.annotation.Requires;
import io.micronaut.http.HttpRequest;
import io.micronaut.http.HttpResponse;
import io.micronaut.http.annotation.Produces;
import io.micronaut.http.server.exceptions.ExceptionHandler;
import io.tandem.controller.errors.AgentCallException;
import io.tandem.controller.errors.CommandFailedException;
import io.tandem.controller.errors.ControllerClosedException;
import io.tandem.controller.errors.InvalidNodeException;
import io.tandem.controller.errors.NoHealthyNodeException;
import io.tandem.controller.errors.NodeConflictException;
import io.tandem.controller.errors.NodeNotFoundException;
import io.tandem.controller.errors.NodeUnavailableException;
import io.tandem.controller.errors.PairingFailedException;
import io.tandem.controller.errors.UnknownModelException;
import jakarta.inject.Singleton;

/**
 * One {@link ExceptionHandler} per typed failure of the routes Micronaut serves, each one status and an OpenAI-style
 * body (never 200 with an error inside), all read from {@link ErrorReply#of}. Nested here because each is three lines.
 */
public final class ErrorHandlers {
    private ErrorHandlers() {}

    @Produces
    @Singleton
    @Requires(classes = {BadRequestException.class, ExceptionHandler.class})
    public static final class BadRequest implements ExceptionHandler<BadRequestException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, BadRequestException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class InvalidNode implements ExceptionHandler<InvalidNodeException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, InvalidNodeException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class UnknownModel implements ExceptionHandler<UnknownModelException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, UnknownModelException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class NodeNotFound implements ExceptionHandler<NodeNotFoundException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, NodeNotFoundException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class NodeConflict implements ExceptionHandler<NodeConflictException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, NodeConflictException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class NoHealthyNode implements ExceptionHandler<NoHealthyNodeException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, NoHealthyNodeException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class NodeUnavailable
            implements ExceptionHandler<NodeUnavailableException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, NodeUnavailableException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class ControllerClosed
            implements ExceptionHandler<ControllerClosedException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, ControllerClosedException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class PairingFailed implements ExceptionHandler<PairingFailedException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, PairingFailedException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class AgentCall implements ExceptionHandler<AgentCallException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, AgentCallException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class CommandFailed implements ExceptionHandler<CommandFailedException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, CommandFailedException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class UpstreamFailed implements ExceptionHandler<UpstreamFailedException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, UpstreamFailedException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }

    @Produces
    @Singleton
    public static final class UpstreamTimeout
            implements ExceptionHandler<UpstreamTimeoutException, HttpResponse<ApiError>> {
        @Override
        public HttpResponse<ApiError> handle(HttpRequest request, UpstreamTimeoutException e) {
            return ApiError.response(ErrorReply.of(e));
        }
    }
}
