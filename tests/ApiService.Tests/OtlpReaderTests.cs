using System.Text;
using Google.Protobuf;
using Hangar.ApiService.Telemetry;
using static Google.Protobuf.WireFormat;

namespace ApiService.Tests;

/// <summary>
/// ApiService's own OTLP readers, protobuf and JSON, against payloads encoded independently (protobuf with Google's
/// encoder, field numbers from opentelemetry-proto v1): both encodings of one span or log read to the same record.
/// </summary>
public sealed class OtlpReaderTests
{
    private const string TraceId = "5b8efff798038103d269b633813fc60c";
    private const string SpanId = "eee19b7ec3c1b174";
    private const string ParentId = "eee19b7ec3c1b173";
    private const string RunId = "0199f0a4-7c1e-7000-8000-000000000001";

    /// <summary>Every AnyValue kind, nested ones included, as the readers store attributes: one flat JSON object.</summary>
    private const string AllKindsJson =
        """{"s":"text","b":true,"i":-42,"big":9007199254740993,"d":1.5,"a":["x",1,[false]],"kv":{"inner":"v","n":{"deep":2}},"bytes":"AQID","empty":null,"blink.run_id":"0199f0a4-7c1e-7000-8000-000000000001"}""";

    private static readonly byte[][] AllKinds =
    [
        KeyValue("s", Any(1, o => o.WriteString("text"))),
        KeyValue("b", Any(2, o => o.WriteBool(true))),
        KeyValue("i", Any(3, o => o.WriteInt64(-42))),
        KeyValue("big", Any(3, o => o.WriteInt64(9007199254740993))),
        KeyValue("d", Any(4, o => o.WriteDouble(1.5))),
        KeyValue("a", Array(Any(1, o => o.WriteString("x")), Any(3, o => o.WriteInt64(1)), Array(Any(2, o => o.WriteBool(false))))),
        KeyValue("kv", KvList(KeyValue("inner", Any(1, o => o.WriteString("v"))), KeyValue("n", KvList(KeyValue("deep", Any(3, o => o.WriteInt64(2))))))),
        KeyValue("bytes", Any(7, o => o.WriteBytes(ByteString.CopyFrom(1, 2, 3)))),
        KeyValue("empty", []),
        KeyValue("blink.run_id", Any(1, o => o.WriteString(RunId))),
    ];

    private const string AllKindsOtlpJson = """
        [{"key":"s","value":{"stringValue":"text"}},{"key":"b","value":{"boolValue":true}},{"key":"i","value":{"intValue":"-42"}},
         {"key":"big","value":{"intValue":"9007199254740993"}},{"key":"d","value":{"doubleValue":1.5}},
         {"key":"a","value":{"arrayValue":{"values":[{"stringValue":"x"},{"intValue":1},{"arrayValue":{"values":[{"boolValue":false}]}}]}}},
         {"key":"kv","value":{"kvlistValue":{"values":[{"key":"inner","value":{"stringValue":"v"}},{"key":"n","value":{"kvlistValue":{"values":[{"key":"deep","value":{"intValue":"2"}}]}}}]}}},
         {"key":"bytes","value":{"bytesValue":"AQID"}},{"key":"empty","value":{}},{"key":"blink.run_id","value":{"stringValue":"0199f0a4-7c1e-7000-8000-000000000001"}}]
        """;

    [Fact]
    public void Span_EveryAttributeKind_ReadsTheSameFromProtobufAndJson()
    {
        var span = Message(o =>
        {
            Bytes(o, 1, Convert.FromHexString(TraceId));
            Bytes(o, 2, Convert.FromHexString(SpanId));
            Bytes(o, 4, Convert.FromHexString(ParentId));
            String(o, 5, "work");
            o.WriteTag(6, WireType.Varint);
            o.WriteEnum(3);
            o.WriteTag(7, WireType.Fixed64);
            o.WriteFixed64(1_700_000_000_000_000_000);
            o.WriteTag(8, WireType.Fixed64);
            o.WriteFixed64(1_700_000_000_500_000_000);
            foreach (var kv in AllKinds)
            {
                Bytes(o, 9, kv);
            }

            Bytes(o, 11, Message(e =>
            {
                e.WriteTag(1, WireType.Fixed64);
                e.WriteFixed64(1_700_000_000_100_000_000);
                String(e, 2, "first_chunk");
                Bytes(e, 3, KeyValue("n", Any(3, v => v.WriteInt64(7))));
            }));
            Bytes(o, 15, Message(s =>
            {
                String(s, 2, "agent failed");
                s.WriteTag(3, WireType.Varint);
                s.WriteEnum(2);
            }));
        });
        var protobuf = OtlpProtobuf.ReadTraces(Export(span, scopeField: 2));
        var json = OtlpJson.ReadTraces(Encoding.UTF8.GetBytes($$$"""
            {"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
             "scopeSpans":[{"scope":{"name":"scope"},"spans":[{"traceId":"{{{TraceId}}}","spanId":"{{{SpanId}}}","parentSpanId":"{{{ParentId}}}",
             "name":"work","kind":3,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000500000000",
             "attributes":{{{AllKindsOtlpJson}}},
             "events":[{"timeUnixNano":"1700000000100000000","name":"first_chunk","attributes":[{"key":"n","value":{"intValue":"7"}}]}],
             "status":{"message":"agent failed","code":2}}]}]}]}
            """));

        var read = Assert.Single(protobuf);
        Assert.Equal(AllKindsJson, read.AttributesJson);
        Assert.Equal(("svc", "scope"), (read.Context.ServiceName, read.Context.ScopeName));
        Assert.Equal((TraceId, SpanId, ParentId, "work", 3), (read.TraceId, read.SpanId, read.ParentSpanId, read.Name, read.Kind));
        Assert.Equal((1_700_000_000_000_000_000L, 1_700_000_000_500_000_000L), (read.StartUnixNano, read.EndUnixNano));
        Assert.Equal((2, "agent failed"), (read.StatusCode, read.StatusMessage));
        Assert.Equal("""[{"attributes":{"n":7},"name":"first_chunk","time_unix_nano":1700000000100000000}]""", read.EventsJson);
        Assert.Equal(Guid.Parse(RunId), read.RunId);
        Assert.Equal(read with { Context = null! }, Assert.Single(json) with { Context = null! });
        Assert.Equal(read.Context, json[0].Context);
    }

    [Fact]
    public void Log_EveryBodyKind_ReadsTheSameFromProtobufAndJson()
    {
        (byte[] Protobuf, string Json, string Stored)[] bodies =
        [
            (Any(1, o => o.WriteString("plain \"text\"")), """{"stringValue":"plain \"text\""}""", "plain \"text\""),
            (KvList(KeyValue("msg", Any(1, o => o.WriteString("hi")))), """{"kvlistValue":{"values":[{"key":"msg","value":{"stringValue":"hi"}}]}}""", """{"msg":"hi"}"""),
            (Array(Any(3, o => o.WriteInt64(1)), Any(4, o => o.WriteDouble(2.5))), """{"arrayValue":{"values":[{"intValue":"1"},{"doubleValue":2.5}]}}""", "[1,2.5]"),
            (Any(2, o => o.WriteBool(false)), """{"boolValue":false}""", "false"),
        ];

        foreach (var (protobufBody, jsonBody, stored) in bodies)
        {
            var log = Message(o =>
            {
                o.WriteTag(1, WireType.Fixed64);
                o.WriteFixed64(1_700_000_000_000_000_000);
                o.WriteTag(2, WireType.Varint);
                o.WriteEnum(17);
                String(o, 3, "ERROR");
                Bytes(o, 5, protobufBody);
                foreach (var kv in AllKinds)
                {
                    Bytes(o, 6, kv);
                }

                Bytes(o, 9, Convert.FromHexString(TraceId));
                Bytes(o, 10, Convert.FromHexString(SpanId));
            });
            var protobuf = Assert.Single(OtlpProtobuf.ReadLogs(Export(log, scopeField: 2)));
            var json = Assert.Single(OtlpJson.ReadLogs(Encoding.UTF8.GetBytes($$$"""
                {"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
                 "scopeLogs":[{"scope":{"name":"scope"},"logRecords":[{"timeUnixNano":"1700000000000000000","severityNumber":17,"severityText":"ERROR",
                 "body":{{{jsonBody}}},"attributes":{{{AllKindsOtlpJson}}},"traceId":"{{{TraceId}}}","spanId":"{{{SpanId}}}"}]}]}]}
                """)));

            Assert.Equal(stored, protobuf.Body);
            Assert.Equal(AllKindsJson, protobuf.AttributesJson);
            Assert.Equal((17, "ERROR", TraceId, SpanId), (protobuf.SeverityNumber, protobuf.SeverityText, protobuf.TraceId, protobuf.SpanId));
            Assert.Equal(protobuf with { Context = null! }, json with { Context = null! });
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x0a, 0x05, 0x01 }, "runs past the end")]
    [InlineData(new byte[] { 0x0a, 0x80 }, "ends inside a varint")]
    [InlineData(new byte[] { 0x0b }, "has wire type 3, expected 2")]
    [InlineData(new byte[] { 0x08, 0x01 }, "wire type 0, expected 2")]
    [InlineData(new byte[] { 0x0a, 0x02, 0xa3, 0x01 }, "Unsupported protobuf wire type 3")]
    public void Protobuf_Malformed_NamesTheProblem(byte[] payload, string problem)
    {
        var error = Assert.Throws<OtlpFormatException>(() => OtlpProtobuf.ReadTraces(payload));
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void Protobuf_BadIdsAndValues_NameTheProblem()
    {
        static string Problem(Action<CodedOutputStream> writeSpan) =>
            Assert.Throws<OtlpFormatException>(() => OtlpProtobuf.ReadTraces(Export(Message(writeSpan), scopeField: 2))).Message;

        Assert.Contains("'trace_id' is 3 bytes; it must be 16", Problem(o => Bytes(o, 1, [1, 2, 3])));
        Assert.Contains("A span has no trace_id or span_id", Problem(o => Bytes(o, 1, Convert.FromHexString(TraceId))));
        Assert.Contains("NaN or infinite", Problem(o =>
        {
            Bytes(o, 1, Convert.FromHexString(TraceId));
            Bytes(o, 2, Convert.FromHexString(SpanId));
            Bytes(o, 9, KeyValue("d", Any(4, v => v.WriteDouble(double.NaN))));
        }));
        Assert.Contains("not valid UTF-8", Problem(o =>
        {
            Bytes(o, 1, Convert.FromHexString(TraceId));
            Bytes(o, 2, Convert.FromHexString(SpanId));
            Bytes(o, 5, [0xff, 0xfe]);
        }));
    }

    /// <summary>An export request with one resource (<c>service.name=svc</c>), one scope (<c>scope</c>) and one record.</summary>
    private static byte[] Export(byte[] record, int scopeField) =>
        Message(request => Bytes(request, 1, Message(resource =>
        {
            Bytes(resource, 1, Message(r => Bytes(r, 1, KeyValue("service.name", Any(1, v => v.WriteString("svc"))))));
            Bytes(resource, scopeField, Message(scope =>
            {
                Bytes(scope, 1, Message(s => String(s, 1, "scope")));
                Bytes(scope, 2, record);
            }));
        })));

    private static byte[] KeyValue(string key, byte[] anyValue) => Message(o =>
    {
        String(o, 1, key);
        Bytes(o, 2, anyValue);
    });

    /// <summary>An AnyValue with one field set, written by <paramref name="write"/> after the field's tag.</summary>
    private static byte[] Any(int field, Action<CodedOutputStream> write) => Message(o =>
    {
        o.WriteTag(field, field switch { 2 or 3 => WireType.Varint, 4 => WireType.Fixed64, _ => WireType.LengthDelimited });
        write(o);
    });

    private static byte[] Array(params byte[][] values) => Message(o => Bytes(o, 5, Message(a =>
    {
        foreach (var value in values)
        {
            Bytes(a, 1, value);
        }
    })));

    private static byte[] KvList(params byte[][] keyValues) => Message(o => Bytes(o, 6, Message(list =>
    {
        foreach (var kv in keyValues)
        {
            Bytes(list, 1, kv);
        }
    })));

    private static void Bytes(CodedOutputStream o, int field, byte[] value)
    {
        o.WriteTag(field, WireType.LengthDelimited);
        o.WriteBytes(ByteString.CopyFrom(value));
    }

    private static void String(CodedOutputStream o, int field, string value)
    {
        o.WriteTag(field, WireType.LengthDelimited);
        o.WriteString(value);
    }

    private static byte[] Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        write(output);
        output.Flush();
        return buffer.ToArray();
    }
}
