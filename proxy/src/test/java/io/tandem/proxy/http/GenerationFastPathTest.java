package io.tandem.proxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;

import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;

class GenerationFastPathTest {
    @Test
    void flushesOutsideARead_leaveTogether_onceTheLoopsCurrentWorkIsDone() {
        AtomicInteger flushes = new AtomicInteger();
        EmbeddedChannel ch = new EmbeddedChannel();
        ch.pipeline().addLast(new ChannelDuplexHandler() {
            @Override
            public void flush(ChannelHandlerContext ctx) {
                flushes.incrementAndGet();
                ctx.flush();
            }
        });
        ch.pipeline().addLast(GenerationFastPath.MICRONAUT_HANDLER, new ChannelInboundHandlerAdapter());
        GenerationFastPath.consolidateFlushes(ch.pipeline());
        assertThat(ch.pipeline().names()).containsSubsequence(GenerationFastPath.FLUSH_CONSOLIDATION,
                GenerationFastPath.MICRONAUT_HANDLER);

        // As a streamed answer is written while the node's connection is read: a chunk and its flush, then the
        // end and its flush. (EmbeddedChannel runs pending tasks on every write, so both writes come first here.)
        ChannelHandlerContext micronaut = ch.pipeline().context(GenerationFastPath.MICRONAUT_HANDLER);
        micronaut.write("chunk");
        micronaut.write("end");
        micronaut.flush();
        micronaut.flush();
        assertThat(flushes).as("held until the loop's current work is done").hasValue(0);
        ch.runPendingTasks();
        assertThat(flushes).as("one flush for both").hasValue(1);
        assertThat((Object) ch.readOutbound()).isEqualTo("chunk");
        assertThat((Object) ch.readOutbound()).isEqualTo("end");
        ch.finishAndReleaseAll();
    }
}
