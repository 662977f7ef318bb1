import { encodeParams, hmacSignature, percentEncode, signQuery, hmacSigner } from '../../src/exchange/signing';

// The worked HMAC examples from binance-spot-api-docs rest-api.md ("SIGNED Endpoint Examples for POST /api/v3/order").
const SECRET = 'NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j';
const params = (symbol: string) => ({
  symbol,
  side: 'BUY',
  type: 'LIMIT',
  timeInForce: 'GTC',
  quantity: '1',
  price: '0.1',
  recvWindow: 5000,
  timestamp: 1499827319559,
});

describe('HMAC signing (Binance documented examples)', () => {
  test('ASCII symbol: payload and signature byte for byte', () => {
    const payload = encodeParams(params('LTCBTC'));
    expect(payload).toBe('symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559');
    expect(hmacSignature(payload, SECRET)).toBe('c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71');
    expect(signQuery(payload, hmacSigner(SECRET))).toBe(
      'symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71',
    );
  });

  test('non-ASCII symbol: percent-encoded payload and signature byte for byte', () => {
    const payload = encodeParams(params('１２３４５６'));
    expect(payload).toBe(
      'symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559',
    );
    expect(hmacSignature(payload, SECRET)).toBe('e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3');
  });

  test('percent-encoding escapes everything outside RFC 3986 unreserved characters', () => {
    expect(percentEncode("A-z_0.9~!'()* /+=&")).toBe('A-z_0.9~%21%27%28%29%2A%20%2F%2B%3D%26');
    expect(encodeParams({ symbols: '["BTCUSDT","ETHBTC"]', skipped: undefined })).toBe('symbols=%5B%22BTCUSDT%22%2C%22ETHBTC%22%5D');
  });
});

describe('WebSocket API signing (Binance documented examples)', () => {
  // web-socket-api.md "SIGNED request example (HMAC)": params sorted by name, not percent-encoded.
  const { wsSignaturePayload } = require('../../src/exchange/user-data-stream') as typeof import('../../src/exchange/user-data-stream');
  const apiKey = 'vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A';

  test('ASCII symbol', () => {
    const payload = wsSignaturePayload({ symbol: 'BTCUSDT', side: 'SELL', type: 'LIMIT', timeInForce: 'GTC', quantity: '0.01000000', price: '52000.00', recvWindow: 100, timestamp: 1645423376532, apiKey });
    expect(payload).toBe(`apiKey=${apiKey}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT`);
    expect(hmacSignature(payload, SECRET)).toBe('aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24');
  });

  test('non-ASCII symbol', () => {
    const payload = wsSignaturePayload({ symbol: '１２３４５６', side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', quantity: '1.00000000', price: '0.10000000', recvWindow: 5000, timestamp: 1645423376532, apiKey });
    expect(hmacSignature(payload, SECRET)).toBe('b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd');
  });
});
